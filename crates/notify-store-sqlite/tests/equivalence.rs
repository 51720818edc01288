//! The SQLite store answers every query exactly as the reference store does, for random event
//! sequences delivered with duplicates, retries and reordering, and after both prune their
//! logs at the same instant.

mod common;

use notify_core::testkit::strategy::{events_and_delivery, events_and_shuffle};
use notify_core::testkit::{block_on, snapshot};
use notify_core::{ApplyOutcome, Event, MemoryStore, Policy, Storage, translate};
use proptest::prelude::*;
use proptest::sample::Index;

/// Each case opens a database file; a few dozen cover the generator's universe well.
const CASES: u32 = 24;

async fn deliver(store: &dyn Storage, events: &[Event]) -> Vec<ApplyOutcome> {
    let mut outcomes = Vec::new();
    for event in events {
        let plan = translate(event, &Policy::default()).expect("generated events translate");
        outcomes.push(store.apply(&plan).await.expect("apply failed"));
    }
    outcomes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn deliveries_with_duplicates_answer_as_the_reference_store((events, schedule) in events_and_delivery(1..40)) {
        block_on(async {
            let memory = MemoryStore::new();
            let expected = deliver(&memory, &schedule).await;
            let sqlite = common::fast_store().await;
            let outcomes = deliver(&sqlite.store, &schedule).await;
            prop_assert_eq!(&outcomes, &expected);
            let applied = outcomes.iter().filter(|o| **o == ApplyOutcome::Applied).count();
            prop_assert_eq!(applied, events.len());
            prop_assert_eq!(snapshot(&sqlite.store).await, snapshot(&memory).await);
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn a_prune_after_any_delivery_answers_as_the_reference_store_after_the_same_prune(
        ((events, schedule), pick) in (events_and_delivery(1..40), any::<Index>())
    ) {
        block_on(async {
            let memory = MemoryStore::new();
            deliver(&memory, &events).await;
            let sqlite = common::fast_store().await;
            deliver(&sqlite.store, &schedule).await;
            // An event's own timestamp: equal stamps of other events fall on both sides.
            let cutoff = events[pick.index(events.len())].timestamp;
            let removed = sqlite.store.prune_events(cutoff).await.expect("prune");
            prop_assert_eq!(removed, memory.prune_events(cutoff).await.expect("prune"));
            prop_assert_eq!(snapshot(&sqlite.store).await, snapshot(&memory).await);
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn any_order_answers_as_the_reference_store_in_order((events, shuffled) in events_and_shuffle(1..40)) {
        block_on(async {
            let memory = MemoryStore::new();
            deliver(&memory, &events).await;
            let sqlite = common::fast_store().await;
            deliver(&sqlite.store, &shuffled).await;
            prop_assert_eq!(snapshot(&sqlite.store).await, snapshot(&memory).await);
            Ok::<(), TestCaseError>(())
        })?;
    }
}
