//! Fuzz target: arbitrary request bodies into `parse_envelope`, as the server receives them
//! from the network with a registry 2.x content type. Errors are expected; panics, aborts,
//! stack overflows and runaway allocations are findings.

#![no_main]

use libfuzzer_sys::fuzz_target;
use notify_core::{MEDIA_TYPE_V1, parse_envelope};

fuzz_target!(|body: &[u8]| {
    let Ok(parsed) = parse_envelope(body, Some(MEDIA_TYPE_V1)) else {
        return;
    };
    // Parts of the body that are skipped need not be UTF-8; the events' own text always is.
    let text = String::from_utf8_lossy(body);
    for result in &parsed.events {
        // The raw text of every event, modelled or refused, is stored or quarantined verbatim,
        // so it must be a non-empty slice of the body.
        let raw = match result {
            Ok(event) => &event.raw,
            Err(error) => &error.raw,
        };
        assert!(!raw.is_empty() && text.contains(raw.as_str()), "raw event text is not part of the body");
    }
});
