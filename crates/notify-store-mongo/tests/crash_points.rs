//! The write protocol survives a writer crashing after any step of an apply: the redelivery
//! (or `recover`) finishes the event, and every count is exact, never doubled or lost.
//!
//! The crash is simulated with the `fault-injection` hook: after the chosen step nothing more is
//! written, not even the release of the writer's lease, as if the process had died. With
//! transactions (a real replica set) a crash aborts the transaction and the redelivery applies
//! the event afresh; the same assertions hold.

mod common;

use std::time::Duration;

use mongodb::bson::doc;
use notify_core::testkit::builder::{EventBuilder, test_digest, time};
use notify_core::testkit::snapshot::snapshot;
use notify_core::{ApplyOutcome, MemoryStore, Plan, Policy, RepoRef, Storage};
use notify_store_mongo::{MongoStore, RecoveryReport};

/// A push, pulls by tag and by digest (counted and HEAD), a blob pull, a retag and deletes:
/// every kind of write, guarded and not.
fn scenario() -> Vec<Plan> {
    let policy = Policy { count_blob_pulls: true, ..Policy::default() };
    let image = |b: EventBuilder| {
        b.manifest(&test_digest(10), 700).image((&test_digest(11), 1500), &[(&test_digest(12), 3000)])
    };
    [
        image(EventBuilder::push("e1", time(1), "team/app")).tag("1.0").actor("alice"),
        image(EventBuilder::pull("e2", time(2), "team/app")).tag("1.0").actor("bob"),
        EventBuilder::pull("e3", time(3), "team/app").blob(&test_digest(12), 3000),
        image(EventBuilder::pull("e4", time(4), "team/app")).head(),
        EventBuilder::push("e5", time(5), "team/app").manifest(&test_digest(20), 800).tag("1.0"),
        EventBuilder::delete("e6", time(6), "team/app").digest(&test_digest(10)),
        EventBuilder::delete("e7", time(7), "team/app").tag("1.0"),
    ]
    .iter()
    .map(|b| b.plan(&policy))
    .collect()
}

async fn reference(plans: &[Plan]) -> MemoryStore {
    let store = MemoryStore::new();
    for plan in plans {
        store.apply(plan).await.expect("the reference store does not fail");
    }
    store
}

/// Documents still carrying a marker, in every collection that can hold them.
async fn markers_left(store: &MongoStore) -> u64 {
    let mut n = 0;
    for name in ["repositories", "tags", "links"] {
        let coll = store.database().collection::<mongodb::bson::Document>(name);
        n += coll.count_documents(doc! { "ev": { "$gte": "" } }).await.expect("counting marked documents");
    }
    n
}

fn short_lease() -> notify_store_mongo::MongoConfig {
    let mut config = common::fresh_config();
    config.apply_lease = Duration::from_millis(150);
    config
}

/// Crashes after step `n` of the whole delivery, then redelivers the crashed event; returns
/// whether a crash happened (false once `n` is past the last step).
async fn crash_and_redeliver(n: usize, plans: &[Plan]) -> bool {
    let store = common::store_with(short_lease()).await;
    store.crash_after_steps(n);
    let mut crashed = false;
    for plan in plans {
        match store.apply(plan).await {
            Ok(outcome) => assert_eq!(outcome, ApplyOutcome::Applied, "{}", plan.entry.id),
            Err(e) => {
                assert!(e.is_transient(), "a crash is reported as transient: {e}");
                assert!(!crashed, "one crash only");
                crashed = true;
                // The registry retries: the redelivery finishes the event (after the dead
                // writer's lease, without transactions).
                // Finished by the redelivery; or already complete when the crash came after the
                // entry was marked applied (only marker clean-up was left), and then listed.
                let listed = store
                    .events(&Default::default())
                    .await
                    .expect("events")
                    .items
                    .iter()
                    .any(|e| e.id == plan.entry.id);
                let again = store.apply(plan).await.unwrap_or_else(|e| panic!("redelivery failed: {e}"));
                let expected = if listed { ApplyOutcome::Duplicate } else { ApplyOutcome::Applied };
                assert_eq!(again, expected, "step {n}: the redelivery of {}", plan.entry.id);
                assert_eq!(store.apply(plan).await.expect("third delivery"), ApplyOutcome::Duplicate);
            }
        }
    }
    store.crash_after_steps(0);
    // Markers a crash left behind (after the event was marked applied) are removed here.
    store.recover().await.expect("recovery");
    assert_eq!(markers_left(&store).await, 0, "step {n}: markers left");
    assert_eq!(snapshot(&*store).await, snapshot(&reference(plans).await).await, "step {n}");
    crashed
}

#[test]
fn a_crash_after_any_step_is_finished_by_the_redelivery_with_exact_counts() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let plans = scenario();
        let mut n = 1;
        while crash_and_redeliver(n, &plans).await {
            n += 1;
        }
        assert!(n > plans.len() * 3, "every event has several steps ({n} in all)");
    });
}

#[test]
fn recovery_finishes_an_event_whose_writer_crashed_and_was_never_redelivered() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let plans = scenario();
        let store = common::store_with(short_lease()).await;
        for plan in &plans[..1] {
            store.apply(plan).await.unwrap();
        }
        // Crash the counted pull part-way through its writes (after its first counter).
        store.crash_after_steps(5);
        assert!(store.apply(&plans[1]).await.is_err());
        store.crash_after_steps(0);
        if !store.uses_transactions() {
            // The pending event is not listed while its writer's lease runs.
            let log = store.events(&Default::default()).await.unwrap();
            assert_eq!(log.items.len(), 1);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let report = store.recover().await.unwrap();
            assert_eq!(report.finished, 1);
            assert_eq!(store.apply(&plans[1]).await.unwrap(), ApplyOutcome::Duplicate);
        } else {
            assert_eq!(store.recover().await.unwrap(), RecoveryReport::default());
            assert_eq!(store.apply(&plans[1]).await.unwrap(), ApplyOutcome::Applied);
        }
        for plan in &plans[2..] {
            store.apply(plan).await.unwrap();
        }
        assert_eq!(snapshot(&*store).await, snapshot(&reference(&plans).await).await);
    });
}

#[test]
fn a_redelivery_during_a_live_lease_waits_for_the_owner_or_reports_unavailable() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let plans = scenario();
        let mut config = common::fresh_config();
        config.apply_lease = Duration::from_secs(60);
        let store = common::store_with(config).await;
        if store.uses_transactions() {
            return;
        }
        // A writer that crashed a moment ago holds a minute-long lease: nobody may take the
        // event over yet, so the redelivery is told to come back later, without writing.
        store.crash_after_steps(1);
        assert!(store.apply(&plans[0]).await.is_err());
        store.crash_after_steps(0);
        let started = std::time::Instant::now();
        let err = store.apply(&plans[0]).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(started.elapsed() >= Duration::from_secs(4), "it waited for the owner first");
        let repo = RepoRef {
            registry: plans[0].entry.registry.clone(),
            repository: plans[0].entry.repository.clone(),
        };
        assert!(store.repository_stats(&repo).await.unwrap().is_none(), "nothing was projected");
    });
}
