//! Random event sequences, delivered with duplicates, retries and reordering, give exactly
//! the answers the reference store gives for the same events delivered once, in order.

mod support;

use notify_core::query::QuarantineRecord;
use notify_core::testkit::strategy::{events_and_delivery, events_and_shuffle};
use notify_core::testkit::{block_on, snapshot};
use notify_core::{Event, MemoryStore, Policy, Storage, Timestamp, translate};
use proptest::prelude::*;

/// Applies each event as the server would: translated, or quarantined when it cannot be.
async fn deliver(store: &dyn Storage, events: &[Event], policy: &Policy) {
    for event in events {
        match translate(event, policy) {
            Ok(plan) => {
                store.apply(&plan).await.unwrap_or_else(|e| panic!("apply of {} failed: {e}", event.id));
            }
            Err(e) => {
                let record = QuarantineRecord::new(
                    Some(&event.id),
                    event.raw.clone(),
                    e.to_string(),
                    None,
                    Timestamp::from_unix_micros(0),
                );
                store.quarantine(&record).await.unwrap_or_else(|e| panic!("quarantine failed: {e}"));
            }
        }
    }
}

/// Each case needs a schema of its own (a migration), so cases are few and sequences long.
fn config() -> ProptestConfig {
    ProptestConfig { cases: 24, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn redelivered_events_give_the_reference_answers((events, delivery) in events_and_delivery(1..60)) {
        block_on(async {
            let policy = Policy::default();
            let pg = support::fresh_store().await;
            let memory = MemoryStore::new();
            deliver(&*pg, &delivery, &policy).await;
            deliver(&memory, &events, &policy).await;
            assert_eq!(snapshot(&*pg).await, snapshot(&memory).await);
        });
    }

    #[test]
    fn shuffled_events_give_the_reference_answers((events, shuffled) in events_and_shuffle(1..60)) {
        block_on(async {
            let policy = Policy { count_blob_pulls: true, count_head_requests: true, ..Policy::default() };
            let pg = support::fresh_store().await;
            let memory = MemoryStore::new();
            deliver(&*pg, &shuffled, &policy).await;
            deliver(&memory, &events, &policy).await;
            assert_eq!(snapshot(&*pg).await, snapshot(&memory).await);
        });
    }
}
