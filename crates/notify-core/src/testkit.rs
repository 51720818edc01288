//! The conformance suite every `Storage` backend runs.
