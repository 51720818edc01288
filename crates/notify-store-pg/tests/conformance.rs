//! The shared conformance suite of `notify-core`, each case on a fresh schema, once with
//! each projection mode.

mod support;

notify_core::conformance_suite!(support::fresh_store);

/// The same cases with the projections written behind the acknowledgements: every read
/// must still see every event applied before it.
mod deferred {
    notify_core::conformance_suite!(super::support::fresh_deferred_store);
}
