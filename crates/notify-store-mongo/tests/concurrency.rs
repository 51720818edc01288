//! Eight writers applying the same 2,000 events at once: every event is applied exactly once,
//! and every count is that of 2,000 distinct events.

mod common;

use std::sync::Arc;

use common::synthetic::Synthetic;
use notify_core::query::{EventQuery, InventoryQuery, LiveTagFilter, PageRequest, RepositoryQuery};
use notify_core::testkit::snapshot::read_pages;
use notify_core::{ApplyOutcome, MemoryStore, Plan, Policy, RepoRef, Storage};

const EVENTS: usize = 2000;
const WRITERS: usize = 8;

/// The answers that hold every count: statistics, tags and links of every repository.
async fn answers(store: &dyn Storage, repos: &[RepoRef]) -> Vec<String> {
    let mut out = Vec::new();
    for repo in repos {
        out.push(format!("{:?}", store.repository_stats(repo).await.expect("repository_stats")));
        let tags = read_pages("tags", 1000, async |p| store.tags(repo, &p).await).await;
        out.push(format!("{:?}", tags.items));
    }
    let inventory = read_pages("inventory", 1000, async |p| {
        store.inventory(&InventoryQuery { filter: LiveTagFilter::default(), page: p }).await
    })
    .await;
    out.push(format!("{:?}", inventory.items));
    out
}

#[test]
fn eight_writers_delivering_the_same_events_count_each_once() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    rt.block_on(async {
        let store = Arc::new(common::fresh_store().await);
        let policy = Policy::default();
        let plans: Arc<Vec<Plan>> =
            Arc::new(Synthetic::new(40, 7).take(EVENTS).map(|b| b.plan(&policy)).collect());

        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let (store, plans) = (store.clone(), plans.clone());
            tasks.spawn(async move {
                // Half the writers go forwards, half backwards, each starting a little apart,
                // so that every event meets several writers at about the same moment.
                let n = plans.len();
                let mut applied = 0;
                for k in 0..n {
                    let i = if writer % 2 == 0 { (k + writer) % n } else { (n - 1 - k + n - writer) % n };
                    let plan = &plans[i];
                    let outcome = loop {
                        match store.apply(plan).await {
                            Ok(outcome) => break outcome,
                            // What a registry does on a 5xx: deliver again.
                            Err(e) if e.is_transient() => tokio::task::yield_now().await,
                            Err(e) => panic!("apply of {} failed: {e}", plan.entry.id),
                        }
                    };
                    if outcome == ApplyOutcome::Applied {
                        applied += 1;
                    }
                }
                applied
            });
        }
        let mut applied = 0;
        while let Some(result) = tasks.join_next().await {
            applied += result.unwrap();
        }
        assert_eq!(applied, EVENTS, "each event is applied by exactly one writer");

        let reference = MemoryStore::new();
        for plan in plans.iter() {
            reference.apply(plan).await.unwrap();
        }
        let log = read_pages("events", 1000, async |p| {
            store.events(&EventQuery { page: p, ..EventQuery::default() }).await
        })
        .await;
        assert_eq!(log.items.len(), EVENTS);
        let repos: Vec<RepoRef> = read_pages("repositories", 1000, async |p| {
            reference.repositories(&RepositoryQuery { page: p, ..RepositoryQuery::default() }).await
        })
        .await
        .items
        .into_iter()
        .map(|r| RepoRef { registry: r.registry, repository: r.repository })
        .collect();
        assert!(repos.len() > 40, "both registries hold repositories");
        let expected = answers(&reference, &repos).await;
        let got = answers(&**store, &repos).await;
        for (e, g) in expected.iter().zip(&got) {
            assert_eq!(g, e);
        }
        let query = RepositoryQuery { page: PageRequest::first(1000), ..Default::default() };
        let listed = store.repositories(&query).await.unwrap();
        let total: u64 = listed.items.iter().map(|r| r.pull_count + r.push_count).sum();
        let counted = plans.iter().filter(|p| p.entry.counted).count() as u64;
        assert_eq!(total, counted, "pushes and pulls counted once each");
    });
}
