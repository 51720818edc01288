//! Load and query figures of the PostgreSQL store: prints, asserts nothing.
//!
//! ```text
//! cargo bench -p notify-store-pg --bench pg_bench -- --events 100000 [--repos 5000] [--writers 32] [--batch-writers 1]
//!     [--inline] [--max-lag 10000] [--max-delay-ms 1000] [--gather-ms 500] [--projectors 2]
//! ```
//!
//! Generates a synthetic registry's traffic (about 70 % pulls of blobs and manifests, HEADs
//! included, then blob and manifest pushes, mounts and some deletes, over `--repos`
//! repositories with a few hot ones, 1 % redeliveries) in chunks of 200,000 deliveries,
//! each generated before the clock starts, loads it into a fresh schema, and
//! prints: apply throughput with one writer and with `--writers` concurrent writers (and the
//! CPU each event costs this process and the database; for the concurrent phase also the WAL
//! and the pages the server wrote per event, and its checkpoints), the
//! latency of a bare single-row commit on the same server (the floor of any durable write),
//! p50/p99 latency of each read query, and the database size per million events.
//!
//! It starts its own PostgreSQL 15 cluster with durable settings (fsync on) unless
//! `NOTIFY_PG_URL` names a server; `--fast` turns fsync off in its own cluster.
//! `--batch-writers` sets `PgConfig::writers`, the batches the store has in flight at once;
//! `--inline` projects each event before acknowledging it (`Projection::Inline`) instead of
//! behind it, and `--max-lag`, `--max-delay-ms`, `--gather-ms` and `--projectors` set
//! `PgConfig::max_lag`, `max_delay`, `gather` and `projectors`.
//! Each apply phase ends with a read, which waits for a deferred projection to catch up; its
//! time is printed too.
//! `--walk 500,5000` measures the unused list with each of these walks (`UnusedQuery::walk`;
//! by default `UnusedQuery::DEFAULT_WALK`).
//! `--prune` ends the run by pruning the older half of the log (`Storage::prune_events`)
//! and prints how fast the entries went.
//! `--schema NAME` (with `NOTIFY_PG_URL`) loads into a schema that outlives the run; when that
//! schema already holds events, the load is skipped and only the reads are measured again,
//! so a change to the read side is measured on 10 M events without loading them again.
//! `--more N` loads N more events into such a schema first (with `--writers` writers),
//! continuing its traffic: a change to the write side measured at 10 M events, as often as
//! needed, without loading them again.
//! The database's CPU is measured when the server runs on this machine and its data
//! directory is readable.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_core::query::{
    EventQuery, InventoryQuery, LiveTagFilter, NameMatch, RepositoryQuery, TagHistoryEntry, UnusedQuery,
};
use notify_core::testkit::builder::uuid_v4;
use notify_core::{
    Action, Actor, Descriptor, Digest, Event, PageRequest, Plan, Policy, RepoRef, RepositoryName, Request,
    Source, Storage, Tag, Target, Timestamp, translate,
};
use notify_store_pg::{PgConfig, PgStore, Projection};
use sha2::{Digest as _, Sha256};

const REGISTRY: &str = "registry.example.com";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const BLOB: &str = "application/octet-stream";
/// The traffic's first timestamp (2026-01-01), in Unix microseconds.
const START_MICROS: i64 = 1_767_225_600_000_000;

struct Args {
    events: usize,
    repos: usize,
    writers: usize,
    batch_writers: usize,
    inline: bool,
    max_lag: Option<usize>,
    max_delay_ms: Option<usize>,
    gather_ms: Option<usize>,
    projectors: Option<usize>,
    fast: bool,
    schema: Option<String>,
    more: usize,
    prune: bool,
    walks: Vec<u32>,
}

fn args() -> Args {
    let mut a = Args {
        events: 100_000,
        repos: 5_000,
        writers: 32,
        batch_writers: 1,
        inline: false,
        max_lag: None,
        max_delay_ms: None,
        gather_ms: None,
        projectors: None,
        fast: false,
        schema: None,
        more: 0,
        prune: false,
        walks: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match arg.as_str() {
            "--events" => a.events = num("--events"),
            "--repos" => a.repos = num("--repos"),
            "--writers" => a.writers = num("--writers"),
            "--batch-writers" => a.batch_writers = num("--batch-writers"),
            "--inline" => a.inline = true,
            "--max-lag" => a.max_lag = Some(num("--max-lag")),
            "--max-delay-ms" => a.max_delay_ms = Some(num("--max-delay-ms")),
            "--gather-ms" => a.gather_ms = Some(num("--gather-ms")),
            "--projectors" => a.projectors = Some(num("--projectors")),
            "--fast" => a.fast = true,
            "--prune" => a.prune = true,
            "--more" => a.more = num("--more"),
            "--schema" => a.schema = Some(it.next().expect("--schema takes a name")),
            "--walk" => a.walks.extend(
                it.next()
                    .expect("--walk takes numbers")
                    .split(',')
                    .map(|w| w.parse::<u32>().unwrap_or_else(|_| panic!("--walk takes numbers, not {w}"))),
            ),
            // `cargo bench` passes `--bench`; filters are meaningless here.
            _ => {}
        }
    }
    if a.walks.is_empty() {
        a.walks.push(UnusedQuery::DEFAULT_WALK);
    }
    a
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn digest(parts: &[&str]) -> Digest {
    let hash = Sha256::digest(parts.join("/").as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}").parse().expect("sha256 hex is a digest")
}

struct Image {
    manifest: Digest,
    config: Digest,
    layers: Vec<Digest>,
}

struct Repo {
    name: RepositoryName,
    images: Vec<Image>,
    tags: Vec<(Tag, usize)>,
}

struct Generator {
    rng: Rng,
    /// The events' ids, random version 4 UUIDs as registries send; a stream of their own, so
    /// that the traffic is the same whatever they look like.
    ids: Rng,
    repos: Vec<Repo>,
    next_id: u64,
    clock: i64,
}

impl Generator {
    fn new(repos: usize) -> Self {
        let repos = (0..repos)
            .map(|i| Repo {
                name: format!("team{}/service-{i}", i % 250).parse().expect("a valid name"),
                images: Vec::new(),
                tags: Vec::new(),
            })
            .collect();
        Generator {
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            ids: Rng(0x2545_f491_4f6c_dd1d),
            repos,
            next_id: 0,
            clock: START_MICROS,
        }
    }

    /// A repository, skewed towards the first ones (a few hot repositories, a long tail).
    fn pick_repo(&mut self) -> usize {
        let u = self.rng.unit();
        ((u * u * u) * self.repos.len() as f64) as usize
    }

    fn event(&mut self, action: Action, target: Target, method: &str) -> Event {
        self.next_id += 1;
        self.clock += 1 + self.rng.below(20_000) as i64;
        let user = self.rng.below(60);
        let mut event = Event {
            id: {
                let high = self.ids.next();
                uuid_v4(high, self.ids.next())
            },
            timestamp: Timestamp::from_unix_micros(self.clock),
            action,
            target,
            request: Request {
                id: format!("req-{}", self.next_id),
                addr: format!("10.1.{}.{}:{}", user % 7, user, 30_000 + self.rng.below(30_000)),
                host: REGISTRY.to_owned(),
                method: method.to_owned(),
                user_agent: "docker/27.3.1 go/go1.22.7 git-commit/c7b3ae0 kernel/6.8.0 os/linux arch/amd64"
                    .to_owned(),
            },
            actor: Actor { name: (user < 50).then(|| format!("user{user}")) },
            source: Source {
                addr: "registry-0:5000".to_owned(),
                instance_id: "6f6b9a1e-7f0c-4bd0-9b1a-2c3d4e5f6a7b".to_owned(),
            },
            raw: String::new(),
        };
        event.raw = serde_json::to_string(&event).expect("an event serialises");
        event
    }

    fn target(&self, r: usize, media_type: &str, digest: &Digest, size: u64, kind: &str) -> Target {
        let name = &self.repos[r].name;
        Target {
            media_type: Some(media_type.to_owned()),
            digest: Some(digest.clone()),
            size: Some(size),
            length: Some(size),
            repository: name.clone(),
            from_repository: None,
            url: Some(format!("https://{REGISTRY}/v2/{name}/{kind}/{digest}")),
            tag: None,
            references: Vec::new(),
            urls: Vec::new(),
            annotations: Default::default(),
            artifact_type: None,
            platform: None,
        }
    }

    fn push_image(&mut self, r: usize) -> Vec<Event> {
        let n = self.repos[r].images.len();
        let name = self.repos[r].name.to_string();
        let config = digest(&["config", &name, &n.to_string()]);
        let base = digest(&["base", &self.rng.below(40).to_string()]);
        let layer = digest(&["layer", &name, &n.to_string()]);
        let manifest = digest(&["manifest", &name, &n.to_string()]);
        let mut out = Vec::new();
        for (d, size) in [(&config, 1_400), (&layer, 23_000_000)] {
            let t = self.target(r, BLOB, d, size, "blobs");
            out.push(self.event(Action::Push, t, "PUT"));
        }
        let mut t = self.target(r, OCI_MANIFEST, &manifest, 1_100, "manifests");
        let tag: Tag = if self.rng.below(3) == 0 { format!("v{n}") } else { "latest".to_owned() }
            .parse()
            .expect("a valid tag");
        t.tag = Some(tag.clone());
        t.references = [
            (OCI_CONFIG, &config, 1_400u64),
            (OCI_LAYER, &base, 30_000_000),
            (OCI_LAYER, &layer, 23_000_000),
        ]
        .into_iter()
        .map(|(mt, d, size)| Descriptor {
            media_type: Some(mt.to_owned()),
            digest: d.clone(),
            size,
            urls: Vec::new(),
            annotations: Default::default(),
            artifact_type: None,
            platform: None,
        })
        .collect();
        out.push(self.event(Action::Push, t, "PUT"));
        let repo = &mut self.repos[r];
        repo.images.push(Image { manifest, config, layers: vec![base, layer] });
        repo.tags.retain(|(t, _)| *t != tag);
        repo.tags.push((tag, n));
        out
    }

    /// The next few events of the traffic.
    fn step(&mut self) -> Vec<Event> {
        let r = self.pick_repo();
        if self.repos[r].images.is_empty() {
            return self.push_image(r);
        }
        let p = self.rng.unit();
        let repo = &self.repos[r];
        let img = &repo.images[self.rng.below(repo.images.len())];
        let tagged = (!repo.tags.is_empty()).then(|| repo.tags[self.rng.below(repo.tags.len())].clone());
        let (manifest, layer) = (img.manifest.clone(), img.layers[self.rng.below(img.layers.len())].clone());
        let config = img.config.clone();
        // A push step makes three events (two blobs and the manifest): these step shares give
        // about 70 % pulls, 25 % pushes, 2 % mounts and 3 % deletes among events.
        if p < 0.84 {
            // Pulls: HEAD checks, manifest GETs by tag or digest, blob GETs.
            let (media, d, kind, method, size) = if p < 0.18 {
                (OCI_MANIFEST, manifest, "manifests", "HEAD", 1_100)
            } else if p < 0.42 {
                (OCI_MANIFEST, manifest, "manifests", "GET", 1_100)
            } else if p < 0.54 {
                (BLOB, config, "blobs", "GET", 1_400)
            } else {
                (BLOB, layer, "blobs", "GET", 23_000_000)
            };
            let mut t = self.target(r, media, &d, size, kind);
            if kind == "manifests" {
                if let Some((tag, i)) = tagged {
                    t.digest = Some(self.repos[r].images[i].manifest.clone());
                    t.tag = Some(tag);
                }
            }
            return vec![self.event(Action::Pull, t, method)];
        }
        if p < 0.94 {
            return self.push_image(r);
        }
        if p < 0.96 {
            let from = self.pick_repo();
            let mut t = self.target(r, BLOB, &layer, 23_000_000, "blobs");
            t.from_repository = Some(self.repos[from].name.clone());
            return vec![self.event(Action::Mount, t, "POST")];
        }
        let mut t = self.target(r, "", &manifest, 0, "manifests");
        t.media_type = None;
        t.size = None;
        t.length = None;
        if p < 0.985 {
            if let Some((tag, _)) = tagged {
                t.digest = None;
                t.url = None;
                t.tag = Some(tag.clone());
                self.repos[r].tags.retain(|(x, _)| *x != tag);
            }
        } else if p < 0.9995 {
            // A manifest delete by digest; its tags go with it.
            let m = manifest.clone();
            let gone: Vec<usize> = self.repos[r]
                .images
                .iter()
                .enumerate()
                .filter(|(_, i)| i.manifest == m)
                .map(|(n, _)| n)
                .collect();
            self.repos[r].tags.retain(|(_, i)| !gone.contains(i));
        } else {
            t.digest = None;
            t.url = None;
            self.repos[r].tags.clear();
        }
        vec![self.event(Action::Delete, t, "DELETE")]
    }
}

/// The deliveries, generated as they are taken (`load` takes them a chunk at a time, so that
/// memory does not grow with `--events`): `n` events, 1 % of them delivered again a few
/// events later.
struct Deliveries {
    g: Generator,
    policy: Policy,
    /// Events generated but not yet delivered (a step makes several).
    ahead: std::collections::VecDeque<Event>,
    /// The last ten delivered, for redeliveries.
    recent: std::collections::VecDeque<Event>,
    again: Option<Event>,
    redeliveries: Rng,
    left: usize,
    delivered: usize,
    mix: std::collections::BTreeMap<&'static str, usize>,
    /// Digests of every 97th delivery (2,000 at most), the arguments of the reads.
    digests: Vec<Digest>,
}

impl Deliveries {
    fn new(n: usize, repos: usize) -> Self {
        Deliveries {
            g: Generator::new(repos),
            policy: Policy::default(),
            ahead: Default::default(),
            recent: Default::default(),
            again: None,
            redeliveries: Rng(42),
            left: n,
            delivered: 0,
            mix: Default::default(),
            digests: Vec::new(),
        }
    }

    fn kind(e: &Event) -> &'static str {
        match (&e.action, e.request.method.as_str(), e.target.url.as_deref()) {
            (Action::Pull, "HEAD", _) => "pull HEAD",
            (Action::Pull, _, Some(u)) if u.contains("/manifests/") => "pull manifest GET",
            (Action::Pull, _, _) => "pull blob GET",
            (Action::Push, _, Some(u)) if u.contains("/manifests/") => "push manifest",
            (Action::Push, _, _) => "push blob",
            (Action::Mount, _, _) => "mount",
            (Action::Delete, _, _) => "delete",
            _ => "other",
        }
    }

    /// Generates the events up to the time `last` (Unix microseconds) without delivering
    /// them: the traffic a schema already holds, passed over so that what follows continues
    /// it.
    fn pass(&mut self, last: i64) {
        loop {
            while self.ahead.is_empty() {
                self.ahead.extend(self.g.step());
            }
            match self.ahead.pop_front() {
                Some(e) if e.timestamp.unix_micros() <= last => {
                    if self.recent.len() == 10 {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(e);
                }
                Some(e) => {
                    self.ahead.push_front(e);
                    return;
                }
                None => return,
            }
        }
    }

    /// The mix of the events delivered so far.
    fn mix(&self) -> String {
        let total: usize = self.mix.values().sum();
        let parts: Vec<String> = self
            .mix
            .iter()
            .map(|(k, v)| format!("{k} {:.1} %", *v as f64 * 100.0 / total.max(1) as f64))
            .collect();
        parts.join(", ")
    }
}

impl Iterator for Deliveries {
    type Item = Plan;

    fn next(&mut self) -> Option<Plan> {
        let event = match self.again.take() {
            Some(e) => e,
            None => {
                if self.left == 0 {
                    return None;
                }
                while self.ahead.is_empty() {
                    self.ahead.extend(self.g.step());
                }
                let e = self.ahead.pop_front()?;
                self.left -= 1;
                *self.mix.entry(Self::kind(&e)).or_default() += 1;
                if self.redeliveries.below(100) == 0 && self.recent.len() == 10 {
                    let back = self.redeliveries.below(10);
                    self.again = self.recent.get(9 - back).cloned();
                }
                if self.recent.len() == 10 {
                    self.recent.pop_front();
                }
                self.recent.push_back(e.clone());
                e
            }
        };
        let plan = translate(&event, &self.policy).expect("generated events translate");
        if self.delivered % 97 == 0 && self.digests.len() < 2_000 {
            self.digests.extend(plan.entry.digest.clone());
        }
        self.delivered += 1;
        Some(plan)
    }
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:.0} events/s ({n} in {:.1} s)", n as f64 / d.as_secs_f64(), d.as_secs_f64())
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn measure<F, Fut>(name: &str, samples: usize, mut f: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::with_capacity(samples);
    let mut items = 0;
    for i in 0..samples {
        let start = Instant::now();
        items += f(i).await;
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "| {name} | {:.2} | {:.2} | {:.1} |",
        quantile(&times, 0.5).as_secs_f64() * 1e3,
        quantile(&times, 0.99).as_secs_f64() * 1e3,
        items as f64 / samples as f64
    );
}

/// Loads `--events` deliveries, serially then concurrently, printing the figures, and
/// returns the digests the reads ask for.
/// How long the first read after the last acknowledgement takes: with deferred projection,
/// the time to project what is still queued.
async fn caught_up(store: &PgStore) -> Duration {
    let started = Instant::now();
    store
        .events(&EventQuery { page: PageRequest { after: None, limit: 1 }, ..Default::default() })
        .await
        .expect("a read");
    started.elapsed()
}

/// What the whole database server has written, from `pg_stat_bgwriter` (PostgreSQL 15 and
/// 16) and the WAL's position: once the random indexes outgrow the buffer cache, the disk
/// rather than the CPU sets the pace, and these say how far. Server-wide, so a run against
/// a shared server counts its other traffic too.
struct Disk {
    wal: i64,
    checkpoints_timed: i64,
    checkpoints_requested: i64,
    by_checkpointer: i64,
    by_background_writer: i64,
    by_backends: i64,
}

impl Disk {
    async fn read(store: &PgStore) -> Option<Disk> {
        let client = store.pool().get().await.ok()?;
        let row = client
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, checkpoints_timed, \
                 checkpoints_req, buffers_checkpoint, buffers_clean, buffers_backend FROM pg_stat_bgwriter",
                &[],
            )
            .await
            .ok()?;
        Some(Disk {
            wal: row.get(0),
            checkpoints_timed: row.get(1),
            checkpoints_requested: row.get(2),
            by_checkpointer: row.get(3),
            by_background_writer: row.get(4),
            by_backends: row.get(5),
        })
    }

    /// One line: what was written since `before`, for `events` events.
    fn since(&self, before: &Disk, events: usize) -> String {
        let per = |d: i64| d as f64 / events.max(1) as f64;
        format!(
            "disk: WAL {:.1} KB per event; checkpoints {} timed, {} requested (WAL full); \
             8 KB pages written per event by the checkpointer {:.2}, the background writer {:.2}, the backends {:.2}",
            per(self.wal - before.wal) / 1024.0,
            self.checkpoints_timed - before.checkpoints_timed,
            self.checkpoints_requested - before.checkpoints_requested,
            per(self.by_checkpointer - before.by_checkpointer),
            per(self.by_background_writer - before.by_background_writer),
            per(self.by_backends - before.by_backends),
        )
    }
}

/// `held`: the time of the newest event a schema already holds, whose traffic is then
/// generated again but not delivered; `--more` events continue it.
async fn load(
    store: &PgStore,
    a: &Args,
    schema: &str,
    database: Option<u32>,
    held: Option<i64>,
) -> Vec<Digest> {
    let mut deliveries = Deliveries::new(if held.is_some() { a.more } else { a.events }, a.repos);
    if let Some(last) = held {
        deliveries.pass(last);
    }
    // Floor: one bare single-row insert per commit.
    {
        let client = store.pool().get().await.expect("a connection");
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS \"{schema}\".floor (id bigserial PRIMARY KEY, v text NOT NULL)"
            ))
            .await
            .expect("floor table");
        let stmt = client
            .prepare(&format!("INSERT INTO \"{schema}\".floor (v) VALUES ($1)"))
            .await
            .expect("prepare");
        let n = 2_000;
        let start = Instant::now();
        for i in 0..n {
            client.execute(&stmt, &[&format!("row {i}")]).await.expect("insert");
        }
        let d = start.elapsed();
        println!(
            "floor: bare single-row commit, one connection: {:.3} ms each, {}",
            d.as_secs_f64() * 1e3 / n as f64,
            rate(n, d)
        );
    }

    // CPU seconds of this process and of the database server (when it runs on this machine).
    let cpu = || {
        (
            notify_pg_cluster::cpu_seconds(std::process::id(), false),
            database.map(|pid| notify_pg_cluster::cpu_seconds(pid, true)),
        )
    };
    // CPU seconds spent since `before`: this process's, and the database server's.
    let spent = |before: (f64, Option<f64>)| {
        let after = cpu();
        (after.0 - before.0, after.1.zip(before.1).map(|(a, b)| a - b))
    };
    let per_event = |(bench, db): (f64, Option<f64>), n: usize| {
        let us = |s: f64| format!("{:.0} µs", s * 1e6 / n as f64);
        let db = db.map_or_else(|| "not measured".to_owned(), us);
        format!("CPU per event: bench {}, database {db}", us(bench))
    };

    // The deliveries are generated and translated before the clock starts, a chunk at a
    // time: the generator (hashing digests, serialising bodies) is not the store's work, and
    // on two cores shared with the database it would be charged to the store's rate.
    let mut generating = Duration::ZERO;
    let mut chunk = |deliveries: &mut Deliveries, n: usize| -> Vec<Plan> {
        let started = Instant::now();
        let plans: Vec<Plan> = deliveries.by_ref().take(n).collect();
        generating += started.elapsed();
        plans
    };

    // Serial: the first tenth (at most 20,000) with one writer; none when continuing.
    if held.is_none() {
        let serial = (a.events / 10).min(20_000);
        let plans = chunk(&mut deliveries, serial);
        let (start, before) = (Instant::now(), cpu());
        for plan in &plans {
            store.apply(plan).await.expect("apply");
        }
        let acknowledged = start.elapsed();
        let lag = caught_up(store).await;
        println!(
            "apply, 1 writer: {}; then a read after {:.1} ms: {} until it sees every event; {}",
            rate(serial, acknowledged),
            lag.as_secs_f64() * 1e3,
            rate(serial, start.elapsed()),
            per_event(spent(before), serial)
        );
    }

    // Concurrent: the rest, in chunks of `CHUNK`, each writer taking the next delivery when
    // it is done with one. The clock runs from a chunk's first delivery until a read sees
    // its last, and stops while the next chunk is generated: the figures add the chunks up.
    const CHUNK: usize = 200_000;
    let (mut rest, mut acknowledged, mut seen, mut lag) = (0, Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let disk_before = Disk::read(store).await;
    let mut cpu_spent = (0.0, Some(0.0));
    loop {
        let plans = chunk(&mut deliveries, CHUNK);
        if plans.is_empty() {
            break;
        }
        let queue = Arc::new(std::sync::Mutex::new(plans.into_iter()));
        let (start, before) = (Instant::now(), cpu());
        let mut tasks = Vec::new();
        for _ in 0..a.writers {
            let (store, queue) = (store.clone(), queue.clone());
            tasks.push(tokio::spawn(async move {
                let mut applied = 0;
                loop {
                    let next = queue.lock().expect("the deliveries").next();
                    let Some(plan) = next else { return applied };
                    store.apply(&plan).await.expect("apply");
                    applied += 1;
                }
            }));
        }
        for t in tasks {
            rest += t.await.expect("writer");
        }
        acknowledged += start.elapsed();
        lag = caught_up(store).await;
        seen += start.elapsed();
        let (bench, db) = spent(before);
        cpu_spent = (cpu_spent.0 + bench, cpu_spent.1.zip(db).map(|(a, b)| a + b));
    }
    println!(
        "apply, {} writers: {}; then a read after {:.1} ms: {} until it sees every event; {}",
        a.writers,
        rate(rest, acknowledged),
        lag.as_secs_f64() * 1e3,
        rate(rest, seen),
        per_event(cpu_spent, rest)
    );
    match (disk_before, Disk::read(store).await) {
        (Some(before), Some(after)) => println!("{}", after.since(&before, rest)),
        _ => println!("disk: not measured (pg_stat_bgwriter without the columns of PostgreSQL 15 and 16)"),
    }
    println!(
        "generating and translating the deliveries, outside the clock: {:.1} µs each",
        generating.as_secs_f64() * 1e6 / deliveries.delivered.max(1) as f64
    );
    {
        println!(
            "delivered {} ({} events, {} repositories); mix: {}",
            deliveries.delivered,
            a.events,
            a.repos,
            deliveries.mix()
        );
        deliveries.digests.clone()
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let a = args();
    let own = match std::env::var("NOTIFY_PG_URL") {
        Ok(url) if !url.is_empty() => None,
        _ => Some(support::Server::start(if a.fast {
            support::Durability::Off
        } else {
            support::Durability::On
        })),
    };
    let url =
        own.as_ref().map_or_else(|| std::env::var("NOTIFY_PG_URL").unwrap_or_default(), |c| c.url.clone());
    let schema = a.schema.clone().unwrap_or_else(|| format!("bench_{}", std::process::id()));
    let mut config = PgConfig::new(url.clone())
        .with_schema(&schema)
        .with_pool_size(a.writers + 2)
        .with_writers(a.batch_writers);
    if a.inline {
        config = config.with_projection(Projection::Inline);
    }
    if let Some(max_lag) = a.max_lag {
        config.max_lag = max_lag;
    }
    if let Some(ms) = a.max_delay_ms {
        config.max_delay = Duration::from_millis(ms as u64);
    }
    if let Some(ms) = a.gather_ms {
        config.gather = Duration::from_millis(ms as u64);
    }
    if let Some(n) = a.projectors {
        config.projectors = n;
    }
    let store = PgStore::connect(&config).await.expect("cannot connect");

    println!(
        "server: {}",
        if own.is_some() {
            if a.fast { "own cluster, fsync off" } else { "own cluster, fsync on" }
        } else {
            "NOTIFY_PG_URL"
        }
    );
    println!(
        "projection: {}, max_lag {}, max_delay {:?}, gather {:?}, projectors {}",
        config.projection.as_str(),
        config.max_lag,
        config.max_delay,
        config.gather,
        config.projectors
    );

    // What the figures depend on most beyond the machine: the buffer cache and checkpoints.
    let settings: Vec<String> = store
        .pool()
        .get()
        .await
        .expect("a connection")
        .query(
            "SELECT name || ' ' || current_setting(name) FROM pg_settings WHERE name IN \
             ('fsync', 'huge_pages', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_compression') \
             ORDER BY name",
            &[],
        )
        .await
        .expect("the server's settings")
        .iter()
        .map(|row| row.get(0))
        .collect();

    // The server's process, for its CPU: our own cluster's, or one on this machine whose data
    // directory this process can read.
    let database = match own.as_ref().and_then(|s| s.own.as_ref()) {
        Some(cluster) => cluster.server_pid(),
        None => {
            let client = store.pool().get().await.expect("a connection");
            let dir: Option<String> = client
                .query_one("SELECT current_setting('data_directory')", &[])
                .await
                .ok()
                .map(|r| r.get(0));
            dir.and_then(|d| std::fs::read_to_string(format!("{d}/postmaster.pid")).ok())
                .and_then(|pid| pid.lines().next()?.trim().parse().ok())
        }
    };
    // Whether the buffer cache is in huge pages changed the database's CPU per event by up to
    // a third at 1 M events here (`docs/benchmarks.md`), and PostgreSQL does not say which.
    let pages = match database.and_then(notify_pg_cluster::huge_page_bytes) {
        Some(0) => "shared memory in 4 KB pages".to_owned(),
        Some(_) => "shared memory in huge pages".to_owned(),
        None => "shared memory in pages of unknown size".to_owned(),
    };
    println!("settings: {}, {pages}", settings.join(", "));

    // The newest event's time, from the index by time: counting 10 M rows would fill the
    // caches with the log and spoil what is measured next.
    let newest: Option<i64> = match store
        .pool()
        .get()
        .await
        .expect("a connection")
        .query_one(
            &format!("SELECT (extract(epoch FROM max(at)) * 1000000)::bigint FROM \"{schema}\".events"),
            &[],
        )
        .await
    {
        Ok(row) => row.get(0),
        Err(_) => None,
    };
    let digests = match newest {
        Some(last) => {
            if a.more > 0 {
                println!("schema {schema} holds events already: {} more, then the reads", a.more);
                load(&store, &a, &schema, database, Some(last)).await;
            } else {
                println!("schema {schema} holds events already: reads only");
            }
            // The same deterministic traffic, generated (not applied) until its read arguments
            // are known again.
            let mut deliveries = Deliveries::new(a.events, a.repos);
            while deliveries.digests.len() < 2_000 && deliveries.next().is_some() {}
            deliveries.digests
        }
        None => load(&store, &a, &schema, database, None).await,
    };

    let client = store.pool().get().await.expect("a connection");
    client.batch_execute("VACUUM ANALYZE").await.expect("analyze");
    let size: i64 = client
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' \
             AND c.relname <> 'floor'",
            &[&schema],
        )
        .await
        .expect("size")
        .get(0);
    let logged: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{schema}\".events"), &[])
        .await
        .expect("count")
        .get(0);
    println!(
        "database: {:.1} MiB for {logged} events = {:.0} MiB per million events",
        size as f64 / 1048576.0,
        size as f64 / 1048576.0 / logged as f64 * 1e6
    );
    for row in client
        .query(
            "SELECT c.relname, pg_total_relation_size(c.oid)::bigint, pg_relation_size(c.oid)::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' \
             ORDER BY 2 DESC",
            &[&schema],
        )
        .await
        .expect("sizes")
    {
        let (name, total, heap): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        println!("  {name}: {:.1} MiB (heap {:.1} MiB)", total as f64 / 1048576.0, heap as f64 / 1048576.0);
    }
    drop(client);

    // Reads, against what was loaded.
    let mut rng = Rng(7);
    let names: Vec<String> = (0..a.repos).map(|i| format!("team{}/service-{i}", i % 250)).collect();
    let repo =
        |i: usize| RepoRef { registry: REGISTRY.to_owned(), repository: names[i].parse().expect("name") };
    let actors: Vec<String> = (0..50).map(|u| format!("user{u}")).collect();
    let samples = 200;
    let hot = |rng: &mut Rng| {
        let u = rng.unit();
        ((u * u * u) * names.len() as f64) as usize
    };
    let picks: Vec<usize> = (0..samples).map(|_| hot(&mut rng)).collect();
    let subs: Vec<String> = (0..samples).map(|i| format!("ice-{}", 100 + (i * 37) % 900)).collect();
    println!("\n| query | p50 ms | p99 ms | items |\n|---|---|---|---|");
    let s = &store;
    measure("repositories, substring search", samples, |i| {
        let q = RepositoryQuery {
            registry: None,
            name: Some(NameMatch::Substring(subs[i].clone())),
            page: PageRequest::first(50),
        };
        async move { s.repositories(&q).await.expect("search").items.len() }
    })
    .await;
    measure("repositories, prefix search", samples, |i| {
        let q = RepositoryQuery {
            registry: Some(REGISTRY.to_owned()),
            name: Some(NameMatch::Prefix(format!("team{}/", (i * 7) % 250))),
            page: PageRequest::first(50),
        };
        async move { s.repositories(&q).await.expect("search").items.len() }
    })
    .await;
    measure("tags of a repository", samples, |i| {
        let r = repo(picks[i]);
        async move { s.tags(&r, &PageRequest::first(100)).await.expect("tags").items.len() }
    })
    .await;
    let latest: Tag = "latest".parse().expect("tag");
    measure("tag history (latest)", samples, |i| {
        let (r, t) = (repo(picks[i]), latest.clone());
        async move { s.tag_history(&r, &t, &PageRequest::first(50)).await.expect("history").items.len() }
    })
    .await;
    measure("by digest", samples, |i| {
        let d = digests[(i * 13) % digests.len()].clone();
        async move { s.digest(&d).await.expect("digest").map_or(0, |info| info.repositories.len()) }
    })
    .await;
    // The widest lists: a base layer is in every repository that pushed an image and is
    // referenced by every image manifest pushed on it.
    let bases: Vec<Digest> = (0..40).map(|k| digest(&["base", &k.to_string()])).collect();
    measure("by digest, a shared base layer", samples, |i| {
        let d = bases[i % bases.len()].clone();
        async move { s.digest(&d).await.expect("digest").map_or(0, |info| info.repositories.len()) }
    })
    .await;
    measure("repositories of a base layer, page of 100 mid-list", samples, |i| {
        let d = bases[(i * 7) % bases.len()].clone();
        let after =
            notify_core::Cursor::from_key(&[REGISTRY.to_owned(), names[(i * 101) % names.len()].clone()]);
        let page = PageRequest { after: Some(after), limit: 100 };
        async move { s.digest_repositories(&d, &page).await.expect("repositories").items.len() }
    })
    .await;
    measure("referrers of a base layer, page of 100 mid-list", samples, |i| {
        let d = bases[(i * 11) % bases.len()].clone();
        let parent = digest(&["somewhere", &i.to_string()]);
        let after = notify_core::Cursor::from_key(&[parent.to_string(), "layer".to_owned()]);
        let page = PageRequest { after: Some(after), limit: 100 };
        async move { s.digest_referrers(&d, &page).await.expect("referrers").items.len() }
    })
    .await;
    measure("events, first page, no filter", samples, |_| async move {
        s.events(&EventQuery { page: PageRequest::first(50), ..EventQuery::default() })
            .await
            .expect("events")
            .items
            .len()
    })
    .await;
    measure("events of a repository", samples, |i| {
        let q = EventQuery {
            registry: Some(REGISTRY.to_owned()),
            repository: Some(names[picks[i]].parse().expect("name")),
            page: PageRequest::first(50),
            ..EventQuery::default()
        };
        async move { s.events(&q).await.expect("events").items.len() }
    })
    .await;
    measure("events by actor and action, page 2", samples, |i| {
        let q = EventQuery {
            actor: Some(actors[i % actors.len()].clone()),
            action: Some(Action::Push),
            page: PageRequest::first(50),
            ..EventQuery::default()
        };
        async move {
            let first = s.events(&q).await.expect("events");
            let q2 = EventQuery { page: PageRequest { after: first.next, limit: 50 }, ..q };
            s.events(&q2).await.expect("events").items.len()
        }
    })
    .await;
    measure("events of a digest", samples, |i| {
        let q = EventQuery {
            digest: Some(digests[(i * 7) % digests.len()].clone()),
            page: PageRequest::first(50),
            ..EventQuery::default()
        };
        async move { s.events(&q).await.expect("events").items.len() }
    })
    .await;
    measure("repository stats", samples, |i| {
        let r = repo(picks[i]);
        async move { usize::from(s.repository_stats(&r).await.expect("stats").is_some()) }
    })
    .await;
    measure("inventory page of 1000", samples.min(50), |i| {
        let after = (i > 0).then(|| {
            let n = &names[(i * 101) % names.len()];
            notify_core::Cursor::from_key(&[REGISTRY.to_owned(), n.clone(), String::new()])
        });
        let q = InventoryQuery { filter: LiveTagFilter::default(), page: PageRequest { after, limit: 1000 } };
        async move { s.inventory(&q).await.expect("inventory").items.len() }
    })
    .await;
    measure("inventory of a namespace (prefix), page of 1000", samples.min(50), |i| {
        let filter = LiveTagFilter {
            repository: Some(NameMatch::Prefix(format!("team{}/", (i * 7) % 250))),
            ..LiveTagFilter::default()
        };
        let q = InventoryQuery { filter, page: PageRequest::first(1000) };
        async move { s.inventory(&q).await.expect("inventory").items.len() }
    })
    .await;
    measure("inventory of one tag, page of 1000", samples.min(50), |i| {
        let after = (i > 0).then(|| {
            let n = &names[(i * 101) % names.len()];
            notify_core::Cursor::from_key(&[REGISTRY.to_owned(), n.clone(), String::new()])
        });
        let filter = LiveTagFilter { tag: Some(latest.clone()), ..LiveTagFilter::default() };
        let q = InventoryQuery { filter, page: PageRequest { after, limit: 1000 } };
        async move { s.inventory(&q).await.expect("inventory").items.len() }
    })
    .await;
    // The traffic's clock advances 10 ms an event on average: this is about its middle.
    let middle = Timestamp::from_unix_micros(START_MICROS + a.events as i64 * 5_000);
    let end = Timestamp::from_unix_micros(START_MICROS + a.events as i64 * 20_000);
    measure("tag history at the middle (latest), one entry", samples, |i| {
        let (r, t) = (repo(picks[i]), latest.clone());
        let page = TagHistoryEntry::page_at(middle, PageRequest::first(1));
        async move { s.tag_history(&r, &t, &page).await.expect("history").items.len() }
    })
    .await;
    measure("tags of a repository at the middle, page of 100", samples, |i| {
        let r = repo(picks[i]);
        async move { s.tags_at(&r, middle, &PageRequest::first(100)).await.expect("tags at").items.len() }
    })
    .await;
    for &walk in &a.walks {
        measure(&format!("unused since the middle, page of 1000, walk {walk}"), samples.min(50), |i| {
            let after = (i > 0).then(|| {
                let n = &names[(i * 101) % names.len()];
                notify_core::Cursor::from_key(&[REGISTRY.to_owned(), n.clone(), String::new()])
            });
            let q =
                UnusedQuery { page: PageRequest { after, limit: 1000 }, walk, ..UnusedQuery::since(middle) };
            async move { s.unused(&q).await.expect("unused").items.len() }
        })
        .await;
        // After the traffic's end every live tag is unused, and each needs its link's pulls:
        // a full page, at the API's largest and default sizes.
        for limit in [1000, 100] {
            measure(
                &format!("unused since the end (all), page of {limit}, walk {walk}"),
                samples.min(50),
                |i| {
                    let after = (i > 0).then(|| {
                        let n = &names[(i * 101) % names.len()];
                        notify_core::Cursor::from_key(&[REGISTRY.to_owned(), n.clone(), String::new()])
                    });
                    let q =
                        UnusedQuery { page: PageRequest { after, limit }, walk, ..UnusedQuery::since(end) };
                    async move { s.unused(&q).await.expect("unused").items.len() }
                },
            )
            .await;
        }
        // Every tag was set after the traffic's start: nothing is unused, and each page is
        // cut short by its walk (once every live tag after the cursor was walked to fill it).
        measure(&format!("unused since the start (none), one page, walk {walk}"), samples.min(50), |i| {
            let after = (i > 0).then(|| {
                let n = &names[(i * 101) % names.len()];
                notify_core::Cursor::from_key(&[REGISTRY.to_owned(), n.clone(), String::new()])
            });
            let since = Timestamp::from_unix_micros(START_MICROS);
            let q =
                UnusedQuery { page: PageRequest { after, limit: 1000 }, walk, ..UnusedQuery::since(since) };
            async move { s.unused(&q).await.expect("unused").items.len() }
        })
        .await;
    }
    if a.prune {
        let client = store.pool().get().await.expect("a connection");
        let middle: chrono::DateTime<chrono::Utc> = client
            .query_one(
                &format!(
                    "SELECT at FROM \"{schema}\".events ORDER BY at \
                     OFFSET (SELECT count(*) / 2 FROM \"{schema}\".events) LIMIT 1"
                ),
                &[],
            )
            .await
            .expect("the middle of the log")
            .get(0);
        drop(client);
        let started = Instant::now();
        let removed = store.prune_events(Timestamp::from_datetime(&middle)).await.expect("prune");
        let took = started.elapsed();
        println!(
            "\nprune, the older half of the log: {removed} entries in {:.1} s = {:.0} entries/s",
            took.as_secs_f64(),
            removed as f64 / took.as_secs_f64()
        );
    }
    drop(store);
    drop(own);
}
