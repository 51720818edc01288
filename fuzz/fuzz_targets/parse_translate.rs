//! Fuzz target: arbitrary request bodies through the whole pure pipeline, `parse_envelope` then
//! `translate` of every event, with the default policy and with one that counts HEAD requests
//! and blob pulls (which reaches the counting branches for every pull).

#![no_main]

use libfuzzer_sys::fuzz_target;
use notify_core::{MEDIA_TYPE_V1, Policy, parse_envelope, translate};

fuzz_target!(|body: &[u8]| {
    let Ok(parsed) = parse_envelope(body, Some(MEDIA_TYPE_V1)) else {
        return;
    };
    let counting = Policy { count_head_requests: true, count_blob_pulls: true, ..Policy::default() };
    for event in parsed.events.iter().flatten() {
        for policy in [&Policy::default(), &counting] {
            let plan = translate(event, policy);
            // Translation is documented as deterministic; a difference would make replicas
            // and replays disagree.
            assert_eq!(plan, translate(event, policy), "translate is not deterministic");
        }
    }
});
