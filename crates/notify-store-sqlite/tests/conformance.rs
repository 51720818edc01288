//! The shared conformance suite of `notify_core::testkit`, unchanged, on a fresh database file
//! per case.

mod common;

notify_core::conformance_suite!(common::fresh_store);
