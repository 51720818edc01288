//! The shared conformance suite of `notify_core`, unchanged, against MongoDB: the emulator, or
//! the deployment named by `NOTIFY_MONGO_URL`. Every case gets a database of its own.

mod common;

notify_core::conformance_suite!(common::fresh_store);
