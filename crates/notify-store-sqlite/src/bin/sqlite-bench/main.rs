//! `sqlite-bench`: what the SQLite store sustains on a synthetic registry workload.
//!
//! ```text
//! cargo run --release -p notify-store-sqlite --bin sqlite-bench -- --events 100000
//! ```
//!
//! Prints, in order: the workload's mix; apply throughput with one writer awaiting each event
//! (the first `--serial` events, on a fresh file) and with `--writers` concurrent writers (all
//! events on another fresh file, timed also when the same first `--serial` were stored); the
//! rate of bare single-row durable commits on the same disk, the floor a serial writer cannot
//! beat; p50 and p99 latency of every read query on the full store; and the file size per
//! million events. Files go to a temporary directory under `--dir` (default: the system's),
//! removed at the end.
//!
//! Options: `--events N` (100000), `--serial N` (10000), `--writers N` (32), `--repositories N`
//! (5000), `--iterations N` per read query (500), `--commits N` (1000), `--synchronous MODE`
//! (full), `--seed N`, `--dir PATH`, `--keep` (leave the files for inspection),
//! `--group-wait-us N` (the store's default otherwise), `--prune` (after the reads, prune the
//! older half of the log and print how fast its entries went).

mod workload;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use notify_core::query::{
    EventQuery, InventoryQuery, LiveTagFilter, NameMatch, RepositoryQuery, UnusedQuery,
};
use notify_core::{Action, Command, Cursor, Digest, PageRequest, RepoRef, Storage, Tag, Timestamp};
use notify_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};

use crate::workload::{Rng, Work, Workload};

struct Args {
    events: usize,
    serial: usize,
    writers: usize,
    repositories: usize,
    iterations: usize,
    commits: usize,
    synchronous: Synchronous,
    seed: u64,
    dir: PathBuf,
    keep: bool,
    group_wait_us: Option<u64>,
    prune: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        events: 100_000,
        serial: 10_000,
        writers: 32,
        repositories: 5_000,
        iterations: 500,
        commits: 1_000,
        synchronous: Synchronous::Full,
        seed: 1,
        dir: std::env::temp_dir(),
        keep: false,
        group_wait_us: None,
        prune: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--events" => args.events = number(value()?)?,
            "--serial" => args.serial = number(value()?)?,
            "--writers" => args.writers = number(value()?)?.max(1),
            "--repositories" => args.repositories = number(value()?)?.max(1),
            "--iterations" => args.iterations = number(value()?)?.max(1),
            "--commits" => args.commits = number(value()?)?.max(1),
            "--seed" => args.seed = number(value()?)? as u64,
            "--synchronous" => args.synchronous = value()?.parse().map_err(|e| format!("{e}"))?,
            "--dir" => args.dir = PathBuf::from(value()?),
            "--keep" => args.keep = true,
            "--prune" => args.prune = true,
            "--group-wait-us" => args.group_wait_us = Some(number(value()?)? as u64),
            "-h" | "--help" => {
                return Err(
                    "usage: sqlite-bench [--events N] [--serial N] [--writers N] [--repositories N] \
                            [--iterations N] [--commits N] [--synchronous off|normal|full|extra] [--seed N] \
                            [--dir PATH] [--keep] [--group-wait-us N] [--prune]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown option {other:?} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sqlite-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

async fn apply(store: &SqliteStore, work: &Work) -> Result<(), String> {
    match work {
        Work::Apply(plan) => store.apply(plan).await.map(drop),
        Work::Quarantine(record) => store.quarantine(record).await.map(drop),
    }
    .map_err(|e| format!("apply failed: {e}"))
}

/// A directory of its own for the benchmark's files, removed with everything in it on drop
/// unless kept.
struct ScratchDir(PathBuf, bool);

impl ScratchDir {
    fn create(parent: &Path) -> Result<Self, String> {
        let path = parent.join(format!("sqlite-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(ScratchDir(path, false))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temporary directory harms nothing.
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn file_size(path: &Path) -> u64 {
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(PathBuf::from(p)).map(|m| m.len()).unwrap_or(0)
    };
    with("") + with("-wal")
}

/// What the read queries are asked about, taken from the workload.
struct Samples {
    repos: Vec<RepoRef>,
    tags: Vec<(RepoRef, Tag)>,
    manifests: Vec<Digest>,
    layers: Vec<Digest>,
    actors: Vec<String>,
    names: Vec<String>,
    middle_micros: i64,
}

fn samples(work: &[Work], names: Vec<String>) -> Samples {
    let mut repos = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut manifests = BTreeSet::new();
    let mut layers = BTreeSet::new();
    let mut actors = BTreeSet::new();
    let mut times = Vec::new();
    for w in work {
        let Work::Apply(plan) = w else { continue };
        times.push(plan.entry.timestamp.unix_micros());
        actors.extend(plan.entry.actor.clone());
        for c in &plan.commands {
            match c {
                Command::SetTag { repo, tag, digest, .. } => {
                    repos.insert(repo.clone());
                    tags.insert((repo.clone(), tag.clone()));
                    manifests.insert(digest.clone());
                }
                Command::UpsertContent(content) if !content.kind.is_manifest() => {
                    layers.insert(content.digest.clone());
                }
                _ => {}
            }
        }
    }
    times.sort_unstable();
    Samples {
        repos: repos.into_iter().collect(),
        tags: tags.into_iter().collect(),
        manifests: manifests.into_iter().collect(),
        layers: layers.into_iter().collect(),
        actors: actors.into_iter().collect(),
        names,
        middle_micros: times.get(times.len() / 2).copied().unwrap_or_default(),
    }
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len())]
}

/// Runs `query` `n` times with fresh parameters; prints p50 and p99.
async fn measure<F, Fut>(label: &str, n: usize, rng: &mut Rng, mut query: F) -> Result<(), String>
where
    F: FnMut(&mut Rng) -> Fut,
    Fut: std::future::Future<Output = Result<usize, notify_core::StorageError>>,
{
    let mut times = Vec::with_capacity(n);
    let mut items = 0usize;
    for _ in 0..n {
        let fut = query(rng);
        let start = Instant::now();
        items += fut.await.map_err(|e| format!("{label}: {e}"))?;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    let p = |q: usize| times[((times.len() * q) / 100).min(times.len() - 1)];
    println!("  {label:<44} {:>11} {:>11}   {:>6.1} items", ms(p(50)), ms(p(99)), items as f64 / n as f64);
    Ok(())
}

async fn reads(store: &SqliteStore, s: &Samples, n: usize, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let page = |limit| PageRequest::first(limit);
    println!("reads ({n} each, one at a time):                          p50         p99   answer size");
    measure("repositories, first page of 100", n, &mut rng, |_| async {
        store
            .repositories(&RepositoryQuery { page: page(100), ..Default::default() })
            .await
            .map(|p| p.items.len())
    })
    .await?;
    measure("repositories, page after a random one", n, &mut rng, |rng| {
        let r = pick(rng, &s.repos).clone();
        async move {
            let after = Some(Cursor::from_key(&[r.registry, r.repository.to_string()]));
            let q = RepositoryQuery { page: PageRequest { after, limit: 100 }, ..Default::default() };
            store.repositories(&q).await.map(|p| p.items.len())
        }
    })
    .await?;
    measure("repositories, prefix search (4 chars)", n, &mut rng, |rng| {
        let name = pick(rng, &s.names).chars().take(4).collect::<String>();
        async move {
            let q = RepositoryQuery {
                name: Some(NameMatch::Prefix(name)),
                page: page(100),
                ..Default::default()
            };
            store.repositories(&q).await.map(|p| p.items.len())
        }
    })
    .await?;
    measure("repositories, substring search (5 chars)", n, &mut rng, |rng| {
        let name = pick(rng, &s.names);
        let skip = rng.below(name.len().saturating_sub(5).max(1));
        let text: String = name.chars().skip(skip).take(5).collect();
        async move {
            let q = RepositoryQuery {
                name: Some(NameMatch::Substring(text)),
                page: page(100),
                ..Default::default()
            };
            store.repositories(&q).await.map(|p| p.items.len())
        }
    })
    .await?;
    measure("tags of a repository", n, &mut rng, |rng| {
        let r = pick(rng, &s.repos).clone();
        async move { store.tags(&r, &page(100)).await.map(|p| p.items.len()) }
    })
    .await?;
    measure("tag history", n, &mut rng, |rng| {
        let (r, t) = pick(rng, &s.tags).clone();
        async move { store.tag_history(&r, &t, &page(100)).await.map(|p| p.items.len()) }
    })
    .await?;
    measure("digest of a manifest", n, &mut rng, |rng| {
        let d = pick(rng, &s.manifests).clone();
        async move { store.digest(&d).await.map(|i| i.map_or(0, |i| i.repositories.len())) }
    })
    .await?;
    measure("digest of a blob (shared base layers too)", n, &mut rng, |rng| {
        let d = pick(rng, &s.layers).clone();
        async move { store.digest(&d).await.map(|i| i.map_or(0, |i| i.repositories.len())) }
    })
    .await?;
    measure("events, newest 100", n, &mut rng, |_| async {
        store.events(&EventQuery { page: page(100), ..Default::default() }).await.map(|p| p.items.len())
    })
    .await?;
    measure("events, 100 before the middle of the log", n, &mut rng, |_| {
        let after = Some(Cursor::from_key(&[s.middle_micros.to_string(), String::new()]));
        async move {
            let q = EventQuery { page: PageRequest { after, limit: 100 }, ..Default::default() };
            store.events(&q).await.map(|p| p.items.len())
        }
    })
    .await?;
    measure("events of a repository", n, &mut rng, |rng| {
        let r = pick(rng, &s.repos).clone();
        async move {
            let q = EventQuery {
                registry: Some(r.registry),
                repository: Some(r.repository),
                page: page(100),
                ..Default::default()
            };
            store.events(&q).await.map(|p| p.items.len())
        }
    })
    .await?;
    measure("events of a digest", n, &mut rng, |rng| {
        let d = pick(rng, &s.manifests).clone();
        async move {
            store
                .events(&EventQuery { digest: Some(d), page: page(100), ..Default::default() })
                .await
                .map(|p| p.items.len())
        }
    })
    .await?;
    measure("events of an actor", n, &mut rng, |rng| {
        let a = pick(rng, &s.actors).clone();
        async move {
            store
                .events(&EventQuery { actor: Some(a), page: page(100), ..Default::default() })
                .await
                .map(|p| p.items.len())
        }
    })
    .await?;
    measure("events, deletes only (no index on action)", n, &mut rng, |_| async {
        let q = EventQuery { action: Some(Action::Delete), page: page(100), ..Default::default() };
        store.events(&q).await.map(|p| p.items.len())
    })
    .await?;
    measure("repository statistics", n, &mut rng, |rng| {
        let r = pick(rng, &s.repos).clone();
        async move { store.repository_stats(&r).await.map(|st| st.map_or(0, |st| st.tag_count as usize)) }
    })
    .await?;
    measure("inventory, first page of 1000", n, &mut rng, |_| async {
        store
            .inventory(&InventoryQuery { filter: LiveTagFilter::default(), page: page(1000) })
            .await
            .map(|p| p.items.len())
    })
    .await?;
    measure("inventory, 1000 after a random repository", n, &mut rng, |rng| {
        let r = pick(rng, &s.repos).clone();
        async move {
            let after = Some(Cursor::from_key(&[r.registry, r.repository.to_string(), String::new()]));
            store
                .inventory(&InventoryQuery {
                    filter: LiveTagFilter::default(),
                    page: PageRequest { after, limit: 1000 },
                })
                .await
                .map(|p| p.items.len())
        }
    })
    .await?;
    measure("unused since mid-log, 1000 after a random one", n, &mut rng, |rng| {
        let r = pick(rng, &s.repos).clone();
        let since = Timestamp::from_unix_micros(s.middle_micros);
        async move {
            let after = Some(Cursor::from_key(&[r.registry, r.repository.to_string(), String::new()]));
            store
                .unused(&UnusedQuery {
                    filter: LiveTagFilter::default(),
                    since,
                    page: PageRequest { after, limit: 1000 },
                    walk: UnusedQuery::DEFAULT_WALK,
                })
                .await
                .map(|p| p.items.len())
        }
    })
    .await?;
    measure("quarantine, newest 100", n, &mut rng, |_| async {
        store.quarantined(&page(100)).await.map(|p| p.items.len())
    })
    .await?;
    Ok(())
}

/// Commits of one small row each, with the store's journal and synchronous settings: the
/// disk's floor for a writer that waits for every commit.
fn bare_commits(path: &Path, n: usize, synchronous: Synchronous) -> Result<Duration, String> {
    let failed = |e: rusqlite::Error| format!("bare commits: {e}");
    let conn = rusqlite::Connection::open(path).map_err(failed)?;
    let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(failed)?;
    conn.pragma_update(None, "synchronous", synchronous.as_str()).map_err(failed)?;
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").map_err(failed)?;
    let mut insert = conn.prepare("INSERT INTO t (v) VALUES (?1)").map_err(failed)?;
    let start = Instant::now();
    for i in 0..n {
        insert.execute([format!("row {i}")]).map_err(failed)?;
    }
    Ok(start.elapsed())
}

async fn run(args: Args) -> Result<(), String> {
    let mut dir = ScratchDir::create(&args.dir)?;
    dir.1 = args.keep;
    println!("files in {} (synchronous={})", dir.path().display(), args.synchronous);

    let start = Instant::now();
    let mut workload = Workload::new(args.repositories, args.seed);
    let work = Arc::new(workload.generate(args.events));
    let (mut pulls, mut pushes, mut deletes, mut quarantined) = (0, 0, 0, 0);
    for w in work.iter() {
        match w {
            Work::Apply(p) if p.entry.action == Action::Pull => pulls += 1,
            Work::Apply(p) if p.entry.action == Action::Delete => deletes += 1,
            Work::Apply(_) => pushes += 1,
            Work::Quarantine(_) => quarantined += 1,
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / work.len().max(1) as f64;
    let heads = work
        .iter()
        .filter(|w| matches!(w, Work::Apply(p) if p.entry.method.as_deref() == Some("HEAD")))
        .count();
    let named = work
        .iter()
        .filter_map(|w| match w {
            Work::Apply(p) => Some(p.entry.repository.as_str()),
            Work::Quarantine(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .len();
    let distinct = work
        .iter()
        .map(|w| match w {
            Work::Apply(p) => p.entry.id.as_str(),
            Work::Quarantine(r) => r.key.as_str(),
        })
        .collect::<BTreeSet<_>>()
        .len();
    println!(
        "workload: {} deliveries of {} distinct events naming {} of {} repositories: {:.1} % pulls ({:.1} % HEAD), {:.1} % pushes and mounts, \
         {:.1} % deletes, {:.2} % quarantined; generated in {:.1} s",
        work.len(),
        distinct,
        named,
        args.repositories,
        pct(pulls),
        pct(heads),
        pct(pushes),
        pct(deletes),
        pct(quarantined),
        start.elapsed().as_secs_f64()
    );

    let config = |name: &str| {
        let mut config = SqliteConfig::new(dir.path().join(name)).with_synchronous(args.synchronous);
        if let Some(us) = args.group_wait_us {
            config.group_wait = Duration::from_micros(us);
        }
        config
    };

    // One writer, waiting for each commit: what a registry posting one event at a time gets.
    let serial = args.serial.min(work.len());
    {
        let store = SqliteStore::open(&config("serial.db")).await.map_err(|e| e.to_string())?;
        let start = Instant::now();
        for w in &work[..serial] {
            apply(&store, w).await?;
        }
        let took = start.elapsed();
        println!(
            "apply, 1 writer:   {serial} events in {:.2} s = {} events/s",
            took.as_secs_f64(),
            rate(serial, took)
        );
    }

    let store = SqliteStore::open(&config("notify.db")).await.map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    // When the first `serial` events were all stored: the figure to hold against one writer's.
    let first_part = Arc::new(std::sync::Mutex::new(None));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.writers {
        let (store, work) = (store.clone(), Arc::clone(&work));
        let (next, done, first_part) = (Arc::clone(&next), Arc::clone(&done), Arc::clone(&first_part));
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(w) = work.get(i) else { return Ok::<(), String>(()) };
                apply(&store, w).await?;
                if done.fetch_add(1, Ordering::Relaxed) + 1 == serial {
                    *first_part.lock().unwrap_or_else(|p| p.into_inner()) = Some(start.elapsed());
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("writer task failed: {e}"))??;
    }
    let took = start.elapsed();
    let first = first_part.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(took);
    println!(
        "apply, {} writers: the same first {serial} in {:.2} s = {} events/s; all {} in {:.2} s = {} events/s",
        args.writers,
        first.as_secs_f64(),
        rate(serial, first),
        work.len(),
        took.as_secs_f64(),
        rate(work.len(), took)
    );

    let bare_path = dir.path().join("bare.db");
    let commits = args.commits;
    let synchronous = args.synchronous;
    let took = tokio::task::spawn_blocking(move || bare_commits(&bare_path, commits, synchronous))
        .await
        .map_err(|e| e.to_string())??;
    println!(
        "bare single-row commit (WAL, synchronous={}): {commits} in {:.2} s = {} commits/s, {} each",
        args.synchronous,
        took.as_secs_f64(),
        rate(commits, took),
        ms(took / commits as u32)
    );

    let s = samples(&work, workload.repository_names());
    reads(&store, &s, args.iterations, args.seed).await?;
    if args.prune {
        let mut stamps: Vec<_> = work
            .iter()
            .filter_map(|w| match w {
                Work::Apply(plan) => Some(plan.entry.timestamp),
                Work::Quarantine(_) => None,
            })
            .collect();
        stamps.sort();
        let middle = stamps.get(stamps.len() / 2).copied().ok_or("no events to prune")?;
        let start = Instant::now();
        let removed = store.prune_events(middle).await.map_err(|e| format!("prune failed: {e}"))?;
        let took = start.elapsed();
        println!(
            "prune, the older half of the log: {removed} entries in {:.2} s = {} entries/s",
            took.as_secs_f64(),
            rate(removed as usize, took)
        );
    }

    let path = store.path().to_owned();
    drop(store);
    let checkpointed = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        let conn = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| e.to_string())?;
        drop(conn);
        Ok(file_size(&path))
    })
    .await
    .map_err(|e| e.to_string())??;
    println!(
        "file size: {:.1} MB for {} events = {:.2} GB per million events",
        checkpointed as f64 / 1e6,
        work.len(),
        checkpointed as f64 / work.len().max(1) as f64 * 1e6 / 1e9
    );
    Ok(())
}
