//! Duplicate deliveries racing each other: eight tasks apply the same 2,000 events, so every
//! event arrives eight times, several of them at once. Exactly one delivery of each is stored.

mod common;

use std::sync::Arc;

use notify_core::query::EventQuery;
use notify_core::testkit::snapshot::read_pages;
use notify_core::testkit::strategy::event_sequence;
use notify_core::{ApplyOutcome, MemoryStore, Plan, Policy, Storage, translate};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const EVENTS: usize = 2_000;
const TASKS: usize = 8;

fn plans() -> Vec<Plan> {
    let mut runner = TestRunner::deterministic();
    let events = event_sequence(EVENTS).new_tree(&mut runner).expect("the generator draws").current();
    events.iter().map(|e| translate(e, &Policy::default()).expect("generated events translate")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_delivering_the_same_events_store_each_once() {
    let plans = Arc::new(plans());
    let ids: std::collections::BTreeSet<&str> = plans.iter().map(|p| p.entry.id.as_str()).collect();
    assert_eq!(ids.len(), EVENTS, "the generator gives distinct ids");

    let sqlite = common::fresh_store().await;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, plans) = (sqlite.store.clone(), Arc::clone(&plans));
        tasks.push(tokio::spawn(async move {
            // Every task starts somewhere else, half of them going backwards, so that each
            // event is in flight from several tasks at about the same time.
            let n = plans.len();
            let order: Vec<usize> =
                (0..n).map(|i| if t % 2 == 0 { (i + t * 7) % n } else { (n - 1 - i + t * 7) % n }).collect();
            let mut applied = 0usize;
            for i in order {
                if store.apply(&plans[i]).await.expect("apply failed") == ApplyOutcome::Applied {
                    applied += 1;
                }
            }
            applied
        }));
    }
    let mut applied = 0;
    for task in tasks {
        applied += task.await.expect("task panicked");
    }
    assert_eq!(applied, EVENTS, "exactly one delivery of each event is applied");

    let logged = read_pages("events", 1000, async |p| {
        sqlite.store.events(&EventQuery { page: p, ..EventQuery::default() }).await
    })
    .await;
    assert_eq!(logged.items.len(), EVENTS);

    let memory = MemoryStore::new();
    for plan in plans.iter() {
        memory.apply(plan).await.expect("memory store");
    }
    let repos = notify_core::query::RepositoryQuery::default();
    let (ours, theirs) =
        (sqlite.store.repositories(&repos).await.unwrap(), memory.repositories(&repos).await.unwrap());
    assert_eq!(ours, theirs, "repository counters");
    for r in &theirs.items {
        let repo = notify_core::RepoRef { registry: r.registry.clone(), repository: r.repository.clone() };
        assert_eq!(
            sqlite.store.repository_stats(&repo).await.unwrap(),
            memory.repository_stats(&repo).await.unwrap(),
            "statistics of {}/{}",
            r.registry,
            r.repository
        );
    }
}
