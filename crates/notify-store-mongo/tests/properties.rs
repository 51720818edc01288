//! Random event sequences, delivered with duplicates, retries and reordering, leave MongoDB
//! answering every query exactly as the reference store does after one delivery of each,
//! and after both prune their logs at the same instant.

mod common;

use notify_core::testkit::snapshot::snapshot;
use notify_core::testkit::strategy::{events_and_delivery, events_and_shuffle};
use notify_core::{ApplyOutcome, Event, MemoryStore, Policy, Storage, translate};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// Modest: every case creates a database and reads every answer back over the wire.
const CASES: u32 = 12;

async fn deliver(store: &dyn Storage, events: &[Event]) -> Vec<ApplyOutcome> {
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let plan = translate(event, &Policy::default()).expect("generated events translate");
        outcomes
            .push(store.apply(&plan).await.unwrap_or_else(|e| panic!("apply of {} failed: {e}", event.id)));
    }
    outcomes
}

fn runner() -> TestRunner {
    let mut config = Config::with_cases(CASES);
    // Failures are reported with the shrunk input; there is no source file to persist them
    // beside outside the `proptest!` macro.
    config.failure_persistence = None;
    TestRunner::new(config)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn deliveries_with_duplicates_answer_like_the_reference_store() {
    let rt = runtime();
    let result = runner().run(&events_and_delivery(1..24), |(events, schedule)| {
        rt.block_on(async {
            let store = common::fresh_store().await;
            let outcomes = deliver(&*store, &schedule).await;
            let reference = MemoryStore::new();
            deliver(&reference, &events).await;
            let applied = outcomes.iter().filter(|o| **o == ApplyOutcome::Applied).count();
            prop_assert_eq!(applied, events.len());
            prop_assert_eq!(snapshot(&*store).await, snapshot(&reference).await);
            Ok(())
        })
    });
    result.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn delivery_order_does_not_change_any_answer() {
    let rt = runtime();
    let result = runner().run(&events_and_shuffle(1..24), |(events, shuffled)| {
        rt.block_on(async {
            let store = common::fresh_store().await;
            deliver(&*store, &shuffled).await;
            let reference = MemoryStore::new();
            deliver(&reference, &events).await;
            prop_assert_eq!(snapshot(&*store).await, snapshot(&reference).await);
            Ok(())
        })
    });
    result.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_prune_after_any_delivery_answers_like_the_reference_store_after_the_same_prune() {
    let rt = runtime();
    let strategy = (events_and_delivery(1..24), any::<Index>());
    let result = runner().run(&strategy, |((events, schedule), pick)| {
        rt.block_on(async {
            let store = common::fresh_store().await;
            deliver(&*store, &schedule).await;
            let reference = MemoryStore::new();
            deliver(&reference, &events).await;
            // An event's own timestamp: equal stamps of other events fall on both sides.
            let cutoff = events[pick.index(events.len())].timestamp;
            let removed = store.prune_events(cutoff).await.expect("prune");
            prop_assert_eq!(removed, reference.prune_events(cutoff).await.expect("prune"));
            prop_assert_eq!(snapshot(&*store).await, snapshot(&reference).await);
            Ok(())
        })
    });
    result.unwrap_or_else(|e| panic!("{e}"));
}
