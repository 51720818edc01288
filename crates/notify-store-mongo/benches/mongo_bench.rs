//! Load and query benchmark of the MongoDB backend.
//!
//! Loads synthetic registry events (about 70 % pulls including `HEAD` checks, pushes, mounts,
//! deletes; see `tests/common/synthetic.rs`) into a fresh database: the first part with one
//! writer, the rest with 32 concurrent writers, and prints the apply throughput of each. Then
//! runs each read query many times with varied arguments and prints p50/p99 latencies.
//!
//! ```text
//! NOTIFY_MONGO_URL=mongodb://127.0.0.1:27017/?replicaSet=rs0 \
//!     cargo bench -p notify-store-mongo --bench mongo_bench
//! ```
//!
//! Without `NOTIFY_MONGO_URL` it runs against the test emulator (mockupdb + mongomock), with few
//! events: that only proves the benchmark works; its figures say nothing about MongoDB.
//!
//! Settings (environment): `NOTIFY_BENCH_EVENTS` (default 1,000,000 on a real server, 3,000 on
//! the emulator), `NOTIFY_BENCH_REPOSITORIES` (5,000), `NOTIFY_BENCH_SERIAL` (events applied by
//! one writer; default a tenth, at most 20,000), `NOTIFY_BENCH_WRITERS` (32),
//! `NOTIFY_BENCH_QUERIES` (runs per read query, 200).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::synthetic::Synthetic;
use notify_core::query::{
    EventQuery, InventoryQuery, LiveTagFilter, NameMatch, PageRequest, RepositoryQuery, UnusedQuery,
};
use notify_core::testkit::builder::test_digest;
use notify_core::{Plan, Policy, RepoRef, Storage, Timestamp};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn per_second(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Applies a plan, redelivering it while the store reports a transient failure, as a registry
/// would.
async fn deliver(store: &dyn Storage, plan: &Plan) {
    loop {
        match store.apply(plan).await {
            Ok(_) => return,
            Err(e) if e.is_transient() => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => panic!("apply of {} failed: {e}", plan.entry.id),
        }
    }
}

struct Latencies {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Latencies {
    fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        sorted.get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and test discovery: there is nothing to list.
        return;
    }
    let emulator = common::on_emulator();
    let events = setting("NOTIFY_BENCH_EVENTS", if emulator { 3_000 } else { 1_000_000 });
    let repositories = setting("NOTIFY_BENCH_REPOSITORIES", 5_000);
    let serial = setting("NOTIFY_BENCH_SERIAL", (events / 10).min(20_000)).min(events);
    let writers = setting("NOTIFY_BENCH_WRITERS", 32).max(1);
    let queries = setting("NOTIFY_BENCH_QUERIES", 200).max(1);

    let mut config = common::fresh_config();
    config.max_pool_size = Some(u32::try_from(writers + 4).unwrap_or(u32::MAX));
    let store = Arc::new(common::store_with(config).await);
    let target = if emulator {
        "the EMULATOR (mockupdb + mongomock): figures only prove the benchmark runs"
    } else {
        "NOTIFY_MONGO_URL"
    };
    println!("notify-store-mongo benchmark against {target}");
    println!("{events} events over {repositories} repositories; transactions: {}", store.uses_transactions());

    let policy = Policy::default();
    let generator = Arc::new(Mutex::new(Synthetic::new(repositories, 42)));
    let next_plan = {
        let generator = generator.clone();
        move || generator.lock().unwrap_or_else(|p| p.into_inner()).next().map(|b| b.plan(&policy))
    };

    let started = Instant::now();
    for _ in 0..serial {
        let Some(plan) = next_plan() else { break };
        deliver(&**store, &plan).await;
    }
    let serial_time = started.elapsed();
    println!(
        "apply, 1 writer:   {serial} events in {:.1} s = {:.0} events/s",
        serial_time.as_secs_f64(),
        per_second(serial, serial_time)
    );

    let rest = events - serial;
    let remaining = Arc::new(Mutex::new(rest));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        let (store, remaining, next_plan) = (store.clone(), remaining.clone(), next_plan.clone());
        tasks.spawn(async move {
            loop {
                let plan = {
                    let mut left = remaining.lock().unwrap_or_else(|p| p.into_inner());
                    if *left == 0 {
                        return;
                    }
                    *left -= 1;
                    next_plan()
                };
                let Some(plan) = plan else { return };
                deliver(&**store, &plan).await;
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("a writer panicked");
    }
    let parallel_time = started.elapsed();
    println!(
        "apply, {writers} writers: {rest} events in {:.1} s = {:.0} events/s",
        parallel_time.as_secs_f64(),
        per_second(rest, parallel_time)
    );

    let registries = ["registry.example", "mirror.example"];
    let repo = |i: usize| RepoRef {
        registry: registries[usize::from(i % 10 == 0)].to_owned(),
        repository: format!("team{}/app{}", (i % repositories) % 50, i % repositories)
            .parse()
            .expect("a valid repository name"),
    };
    let page = PageRequest::first(100);
    let mut results = Vec::new();
    macro_rules! measure {
        ($name:expr, |$i:ident| $call:expr) => {{
            let mut samples = Vec::with_capacity(queries);
            for $i in 0..queries {
                let started = Instant::now();
                let answer = $call.await;
                samples.push(started.elapsed());
                if let Err(e) = answer {
                    panic!("{} failed: {e}", $name);
                }
            }
            results.push(Latencies { name: $name, samples });
        }};
    }
    let s = &**store;
    let page = &page;
    measure!("repositories (first page of 100)", |_i| async {
        s.repositories(&RepositoryQuery { page: page.clone(), ..Default::default() }).await
    });
    measure!("repositories by prefix", |i| async move {
        let name = Some(NameMatch::Prefix(format!("team{}/app{}", i % 50, i % 10)));
        s.repositories(&RepositoryQuery { name, page: page.clone(), ..Default::default() }).await
    });
    measure!("repositories by substring", |i| async move {
        let name = Some(NameMatch::Substring(format!("app{}", i % 100)));
        s.repositories(&RepositoryQuery { name, page: page.clone(), ..Default::default() }).await
    });
    measure!("tags of a repository", |i| async move { s.tags(&repo(i * 7919), page).await });
    measure!("tag history", |i| async move {
        let tag = "latest".parse().expect("a valid tag");
        s.tag_history(&repo(i * 7919), &tag, page).await
    });
    measure!("digest", |i| async move {
        let n = u32::try_from(2 + (i * 104_729) % events.max(1)).unwrap_or(2);
        s.digest(&test_digest(n)).await
    });
    measure!("events (first page of 100)", |_i| async {
        s.events(&EventQuery { page: page.clone(), ..Default::default() }).await
    });
    measure!("events of a repository", |i| async move {
        let r = repo(i * 7919);
        let query = EventQuery {
            registry: Some(r.registry),
            repository: Some(r.repository),
            page: page.clone(),
            ..Default::default()
        };
        s.events(&query).await
    });
    measure!("events of an actor", |_i| async {
        s.events(&EventQuery { actor: Some("alice".into()), page: page.clone(), ..Default::default() }).await
    });
    measure!("repository statistics", |i| async move { s.repository_stats(&repo(i * 7919)).await });
    measure!("inventory (first page of 100)", |_i| async {
        s.inventory(&InventoryQuery { filter: LiveTagFilter::default(), page: page.clone() }).await
    });
    // Unused since the newest event: nearly every tag, the query's longest walk.
    let newest = s
        .events(&EventQuery { page: PageRequest::first(1), ..Default::default() })
        .await
        .expect("the newest event")
        .items
        .first()
        .map_or(Timestamp::from_unix_micros(0), |e| e.timestamp);
    measure!("unused since the newest event", |_i| async {
        s.unused(&UnusedQuery { page: page.clone(), ..UnusedQuery::since(newest) }).await
    });
    measure!("quarantine (first page of 100)", |_i| async { s.quarantined(page).await });

    println!("read queries, {queries} runs each:");
    println!("{:<36} {:>10} {:>10}", "query", "p50", "p99");
    for r in &results {
        println!("{:<36} {:>10} {:>10}", r.name, ms(r.percentile(50)), ms(r.percentile(99)));
    }
    if emulator {
        println!("(emulator figures: they only show that the benchmark works)");
    }
}
