//! The webhook endpoint and query API over a `notify_core::Storage` (being built; see the open issues).
