//! MongoDB backend of the `notify_core::Storage` trait (being built; see the open issues).
