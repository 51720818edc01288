//! Random event sequences, delivered with duplicates, retries and reordering, give exactly
//! the answers the reference store gives for the same events delivered once, in order; and
//! so they do after both prune their logs at the same instant. No projected row is left
//! pointing at a repository or a manifest that is not there.

mod support;

use notify_core::query::QuarantineRecord;
use notify_core::testkit::strategy::{events_and_delivery, events_and_shuffle};
use notify_core::testkit::{block_on, snapshot};
use notify_core::{Event, MemoryStore, Policy, Storage, Timestamp, translate};
use proptest::prelude::*;
use proptest::sample::Index;

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

/// Applies every event at once: the store's writers find them all queued and apply them as
/// one batch (a transaction of up to 256 plans), duplicates of one event included.
async fn deliver_at_once(store: &dyn Storage, events: &[Event], policy: &Policy) {
    let plans: Vec<_> = events.iter().filter_map(|e| translate(e, policy).ok()).collect();
    let outcomes = futures_util::future::join_all(plans.iter().map(|plan| store.apply(plan))).await;
    for (plan, outcome) in plans.iter().zip(outcomes) {
        outcome.unwrap_or_else(|e| panic!("apply of {} failed: {e}", plan.entry.id));
    }
    let unmodelled: Vec<_> = events.iter().filter(|e| translate(e, policy).is_err()).cloned().collect();
    deliver(store, &unmodelled, policy).await;
}

/// A fresh schema with `delivery` delivered one by one, and the reference store with
/// `events` delivered once each, in order.
async fn delivered(
    events: &[Event],
    delivery: &[Event],
    policy: &Policy,
) -> (support::TestStore, MemoryStore) {
    let pg = support::fresh_store().await;
    let memory = MemoryStore::new();
    deliver(&*pg, delivery, policy).await;
    deliver(&memory, events, policy).await;
    (pg, memory)
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
            let (pg, memory) = delivered(&events, &delivery, &Policy::default()).await;
            assert_eq!(snapshot(&*pg).await, snapshot(&memory).await);
            assert_eq!(pg.dangling_references().await, 0);
        });
    }

    #[test]
    fn shuffled_events_give_the_reference_answers((events, shuffled) in events_and_shuffle(1..60)) {
        block_on(async {
            let policy = Policy { count_blob_pulls: true, count_head_requests: true, ..Policy::default() };
            let (pg, memory) = delivered(&events, &shuffled, &policy).await;
            assert_eq!(snapshot(&*pg).await, snapshot(&memory).await);
            assert_eq!(pg.dangling_references().await, 0);
        });
    }

    #[test]
    fn a_prune_after_any_delivery_leaves_the_reference_answers_after_the_same_prune(
        ((events, delivery), pick) in (events_and_delivery(1..60), any::<Index>())
    ) {
        block_on(async {
            let (pg, memory) = delivered(&events, &delivery, &Policy::default()).await;
            // An event's own timestamp: equal stamps of other events fall on both sides.
            let cutoff = events[pick.index(events.len())].timestamp;
            let removed = pg.prune_events(cutoff).await.expect("prune");
            assert_eq!(removed, memory.prune_events(cutoff).await.expect("prune"), "entries pruned before {cutoff}");
            assert_eq!(snapshot(&*pg).await, snapshot(&memory).await);
            assert_eq!(pg.dangling_references().await, 0);
        });
    }

    #[test]
    fn events_applied_as_one_batch_give_the_reference_answers((events, delivery) in events_and_delivery(1..80)) {
        block_on(async {
            let policy = Policy { count_blob_pulls: true, ..Policy::default() };
            let pg = support::fresh_store().await;
            let memory = MemoryStore::new();
            deliver_at_once(&*pg, &delivery, &policy).await;
            deliver(&memory, &events, &policy).await;
            assert_eq!(snapshot(&*pg).await, snapshot(&memory).await);
            assert_eq!(pg.dangling_references().await, 0);
        });
    }
}
