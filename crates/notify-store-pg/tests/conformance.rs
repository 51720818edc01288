//! The shared conformance suite of `notify-core`, each case on a fresh schema, once with
//! each projection mode.

mod support;

/// The default: projections written behind the acknowledgements, and every read seeing
/// every event applied before it.
mod deferred {
    notify_core::conformance_suite!(super::support::fresh_deferred_store);
}

/// Projections written in the transaction that stores each event.
mod inline {
    notify_core::conformance_suite!(super::support::fresh_inline_store);
}
