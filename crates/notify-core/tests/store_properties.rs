//! Store-level properties of the reference store, over generated event sequences: what a
//! store answers depends on the set of events it holds, not on how they were delivered.
//!
//! The generators and the snapshot are the test kit's, so a backend crate can state the same
//! properties against its own store, or compare `snapshot(backend)` with
//! `snapshot(MemoryStore)` for the same deliveries.

use notify_core::query::EventQuery;
use notify_core::testkit::snapshot::{read_pages, snapshot};
use notify_core::testkit::strategy::{event_sequence, events_and_delivery, events_and_shuffle};
use notify_core::testkit::{StoreSnapshot, block_on};
use notify_core::{
    ApplyOutcome, Command, Event, LogEntry, MemoryStore, Policy, Storage, parse_event, translate,
};
use proptest::prelude::*;

const CASES: u32 = 64;

/// Applies each event in order under the default policy; returns the outcomes.
async fn deliver(store: &dyn Storage, events: &[Event]) -> Vec<ApplyOutcome> {
    let mut outcomes = Vec::new();
    for event in events {
        let plan = translate(event, &Policy::default()).expect("generated events translate");
        outcomes.push(store.apply(&plan).await.expect("the memory store does not fail"));
    }
    outcomes
}

async fn delivered(events: &[Event]) -> StoreSnapshot {
    let store = MemoryStore::new();
    deliver(&store, events).await;
    snapshot(&store).await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Stores rely on it (PostgreSQL's tag triggers read the digest's content row): a tag is
    /// only ever set to content the same plan wrote before it.
    #[test]
    fn a_tag_is_set_only_to_content_its_plan_wrote_first(events in event_sequence(1..32)) {
        for event in &events {
            let plan = translate(event, &Policy::default()).expect("generated events translate");
            for (i, command) in plan.commands.iter().enumerate() {
                if let Command::SetTag { digest, .. } = command {
                    let written_before = plan.commands[..i]
                        .iter()
                        .any(|c| matches!(c, Command::UpsertContent(content) if &content.digest == digest));
                    prop_assert!(written_before, "{:?}", plan.commands);
                }
            }
        }
    }

    #[test]
    fn applying_each_event_twice_equals_applying_it_once(events in event_sequence(1..32)) {
        block_on(async {
            let once = delivered(&events).await;
            let twice = MemoryStore::new();
            for event in &events {
                let outcomes = deliver(&twice, std::slice::from_ref(event)).await;
                prop_assert_eq!(outcomes, vec![ApplyOutcome::Applied]);
                let outcomes = deliver(&twice, std::slice::from_ref(event)).await;
                prop_assert_eq!(outcomes, vec![ApplyOutcome::Duplicate]);
            }
            prop_assert_eq!(snapshot(&twice).await, once);
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn duplicates_and_retries_change_nothing((events, schedule) in events_and_delivery(1..32)) {
        block_on(async {
            let outcomes = {
                let store = MemoryStore::new();
                let outcomes = deliver(&store, &schedule).await;
                prop_assert_eq!(snapshot(&store).await, delivered(&events).await);
                outcomes
            };
            let applied = outcomes.iter().filter(|o| **o == ApplyOutcome::Applied).count();
            prop_assert_eq!(applied, events.len());
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn delivery_order_changes_nothing((events, shuffled) in events_and_shuffle(1..32)) {
        block_on(async {
            prop_assert_eq!(delivered(&shuffled).await, delivered(&events).await);
            Ok::<(), TestCaseError>(())
        })?;
    }

    #[test]
    fn replaying_the_logged_raw_events_rebuilds_the_same_store(events in event_sequence(1..32)) {
        block_on(async {
            let live = MemoryStore::new();
            deliver(&live, &events).await;
            let log: Vec<LogEntry> = read_pages("events", 7, async |p| {
                live.events(&EventQuery { page: p, ..EventQuery::default() }).await
            })
            .await
            .items;
            prop_assert_eq!(log.len(), events.len());
            let replayed = MemoryStore::new();
            for (i, entry) in log.iter().enumerate() {
                let event = parse_event(i, &entry.raw).expect("a logged raw event parses");
                let plan = translate(&event, &Policy::default()).expect("a logged event translates");
                prop_assert_eq!(&plan.entry, entry);
                prop_assert_eq!(replayed.apply(&plan).await.expect("apply"), ApplyOutcome::Applied);
            }
            prop_assert_eq!(snapshot(&replayed).await, snapshot(&live).await);
            Ok::<(), TestCaseError>(())
        })?;
    }
}

/// Snapshots are meant to be dumped when two stores disagree: they must serialise to JSON.
#[test]
fn a_snapshot_serialises_to_json() {
    use notify_core::testkit::fixtures::{BASIC, replay, scenario_dir};
    let json = block_on(async {
        let store = MemoryStore::new();
        replay(&store, &scenario_dir(BASIC), &Policy::default()).await;
        serde_json::to_value(snapshot(&store).await).expect("a snapshot serialises")
    });
    assert_eq!(json["events"]["items"].as_array().map(Vec::len), Some(35));
    assert_eq!(json["repository_details"].as_array().map(Vec::len), Some(3));
}
