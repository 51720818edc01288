//! The conformance suite on the reference store: `MemoryStore` must pass every case it defines.

notify_core::conformance_suite!(|| async { Box::new(notify_core::MemoryStore::new()) });
