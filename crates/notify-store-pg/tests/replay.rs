//! The captured fixtures, replayed into PostgreSQL and into the reference store, in order,
//! reversed and twice over: every answer must be the same.

mod support;

use notify_core::testkit::fixtures::{read_body, replay_bodies, scenario_dir, scenario_files};
use notify_core::testkit::snapshot;
use notify_core::{MemoryStore, Policy};

fn bodies(scenario: &str) -> Vec<(String, Vec<u8>)> {
    scenario_files(&scenario_dir(scenario))
        .into_iter()
        .map(|f| (f.display().to_string(), read_body(&f)))
        .collect()
}

async fn compare(scenario: &str, order: impl Fn(Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)>) {
    let policy = Policy::default();
    let bodies = order(bodies(scenario));
    let pg = support::fresh_store().await;
    let memory = MemoryStore::new();
    let a = replay_bodies(&*pg, &bodies, &policy).await;
    let b = replay_bodies(&memory, &bodies, &policy).await;
    assert_eq!(a, b, "{scenario}: replay outcomes differ");
    let (pg_snap, mem_snap) = (snapshot(&*pg).await, snapshot(&memory).await);
    assert_eq!(pg_snap, mem_snap, "{scenario}: PostgreSQL and the reference store disagree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_in_order_matches_the_reference_store() {
    for scenario in ["registry-2.8/basic", "registry-2.8/auth", "registry-3-shape"] {
        compare(scenario, |b| b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_reversed_and_twice_matches_the_reference_store() {
    for scenario in ["registry-2.8/basic", "registry-2.8/auth", "registry-3-shape"] {
        compare(scenario, |b| {
            let mut twice: Vec<_> = b.iter().rev().cloned().collect();
            twice.extend(b);
            twice
        })
        .await;
    }
}
