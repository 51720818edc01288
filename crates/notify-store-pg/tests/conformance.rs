//! The shared conformance suite of `notify-core`, each case on a fresh schema.

mod support;

notify_core::conformance_suite!(support::fresh_store);
