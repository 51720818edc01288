//! How failures reach the caller: a lock held elsewhere is transient, data SQLite cannot hold
//! is rejected for good, and neither disturbs the other writes of the same batch.

mod common;

use std::time::Duration;

use notify_core::command::Command;
use notify_core::query::EventQuery;
use notify_core::testkit::builder::{EventBuilder, test_digest, time};
use notify_core::{ApplyOutcome, Plan, Policy, Storage, StorageError};
use notify_store_sqlite::{SqliteConfig, SqliteStore};

fn blob_push(id: &str, n: u32) -> Plan {
    EventBuilder::push(id, time(i64::from(n)), "team/app").blob(&test_digest(n), 100).plan(&Policy::default())
}

/// A plan whose content size does not fit a signed 64-bit integer (the parser refuses such
/// events, but a plan built in code can carry one).
fn oversized(id: &str) -> Plan {
    let mut plan = blob_push(id, 9);
    for command in &mut plan.commands {
        if let Command::UpsertContent(c) = command {
            c.size = Some(u64::MAX);
        }
    }
    plan
}

async fn logged(store: &dyn Storage) -> Vec<String> {
    let page = store.events(&EventQuery::default()).await.expect("the log reads");
    page.items.into_iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn a_lock_held_by_another_process_is_unavailable_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig { busy_timeout: Duration::from_millis(100), ..common::config_in(&dir) };
    let store = SqliteStore::open(&config).await.unwrap();
    let other = rusqlite::Connection::open(&config.path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let err = store.apply(&blob_push("e1", 1)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(matches!(err, StorageError::Unavailable { .. }), "{err}");
    assert!(store.ping().await.unwrap_err().is_transient());
    // Readers are not blocked by a writer in WAL mode.
    assert_eq!(logged(&store).await, Vec::<String>::new());

    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(store.apply(&blob_push("e1", 1)).await.unwrap(), ApplyOutcome::Applied);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn data_sqlite_cannot_hold_is_rejected_and_leaves_no_trace() {
    let store = common::fresh_store().await;
    let err = store.apply(&oversized("big")).await.unwrap_err();
    assert!(matches!(err, StorageError::Rejected { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(logged(&*store).await, Vec::<String>::new(), "the event was not logged");
    assert_eq!(store.digest(&test_digest(9)).await.unwrap(), None, "nothing was projected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_plan_does_not_fail_the_writes_committed_with_it() {
    let store = common::fresh_store().await;
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let store = store.store.clone();
        tasks.push(tokio::spawn(async move {
            let plan = if i % 8 == 0 {
                oversized(&format!("bad-{i:02}"))
            } else {
                blob_push(&format!("ok-{i:02}"), i)
            };
            (i, store.apply(&plan).await)
        }));
    }
    for task in tasks {
        let (i, result) = task.await.unwrap();
        match result {
            Ok(outcome) => assert!(i % 8 != 0 && outcome == ApplyOutcome::Applied, "{i}: {outcome:?}"),
            Err(e) => assert!(i % 8 == 0 && matches!(e, StorageError::Rejected { .. }), "{i}: {e}"),
        }
    }
    let ids = logged(&*store).await;
    assert_eq!(ids.len(), 56);
    assert!(ids.iter().all(|id| id.starts_with("ok-")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_store_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(&dir);
    let (a, b) = (SqliteStore::open(&config).await.unwrap(), SqliteStore::open(&config).await.unwrap());
    let plans: Vec<Plan> = (0..200).map(|i| blob_push(&format!("e{i:03}"), i)).collect();
    let run = |store: SqliteStore, plans: Vec<Plan>| {
        tokio::spawn(async move {
            let mut applied = 0;
            for plan in &plans {
                if store.apply(plan).await.unwrap() == ApplyOutcome::Applied {
                    applied += 1;
                }
            }
            applied
        })
    };
    let reversed: Vec<Plan> = plans.iter().rev().cloned().collect();
    let (x, y) = (run(a.clone(), plans.clone()), run(b.clone(), reversed));
    assert_eq!(x.await.unwrap() + y.await.unwrap(), 200);
    let stats = a
        .repository_stats(&notify_core::RepoRef {
            registry: notify_core::testkit::builder::DEFAULT_HOST.to_owned(),
            repository: "team/app".parse().unwrap(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.live_digests, 200);
}
