//! `notify-bench`: drives a `notify-server` process over HTTP exactly as a registry does
//! (keep-alive, one event per POST, distinct ids, registry-shaped bodies) and prints what it
//! sustains, beside the floors measured in the same run on the same machine.
//!
//! ```text
//! cargo build --release -p notify-server -p notify-bench
//! target/release/notify-bench ingest                      # embedded store and PostgreSQL
//! target/release/notify-bench soak --minutes 10           # constant load, RSS and latency each second
//! ```
//!
//! PostgreSQL is `NOTIFY_PG_URL`, else a throwaway cluster with durable settings (fsync on)
//! started from `/usr/lib/postgresql/15/bin`; MongoDB is measured when `NOTIFY_MONGO_URL` is set.
//! Nothing is asserted: the figures go to `docs/benchmarks.md`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use notify_bench::{body, events};
use notify_pg_cluster::{Cluster, Durability, cpu_seconds, huge_page_bytes};
use sender::{Connection, Request};

mod sender;

const TOKEN: &str = "bench-token";

#[derive(Parser)]
#[command(name = "notify-bench", about = "Ingest benchmark and soak test for notify-server")]
struct Cli {
    #[command(subcommand)]
    command: Mode,
    /// The notify-server binary (default: next to this one).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Mode {
    /// Serial and concurrent ingest per store, with the floors and the server's memory.
    Ingest {
        /// Events sent by one sender.
        #[arg(long, default_value_t = 3_000)]
        serial: usize,
        /// Events sent by the concurrent senders.
        #[arg(long, default_value_t = 20_000)]
        concurrent: usize,
        /// Concurrent senders.
        #[arg(long, default_value_t = 32)]
        senders: usize,
        /// Stores to measure: sqlite, postgres, mongo (mongo needs NOTIFY_MONGO_URL), and
        /// memory (not durable: the ceiling the server's own work leaves).
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres,mongo")]
        stores: Vec<String>,
        /// Store options for the PostgreSQL run, added to the URL the server is given (the
        /// floor connects without them), e.g. `writers=2`.
        #[arg(long, default_value = "")]
        pg_options: String,
    },
    /// Constant load for a while; RSS and latency sampled every second.
    Soak {
        /// How long.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
        /// Events per second.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Store URL (default: the embedded store in a temporary directory).
        #[arg(long)]
        store_url: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let server_bin = cli.server_bin.unwrap_or_else(|| {
        std::env::current_exe().map(|p| p.with_file_name("notify-server")).unwrap_or_default()
    });
    if !server_bin.is_file() {
        eprintln!(
            "notify-bench: {} not found: cargo build --release -p notify-server (or --server-bin)",
            server_bin.display()
        );
        return std::process::ExitCode::FAILURE;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        match cli.command {
            Mode::Ingest { serial, concurrent, senders, stores, pg_options } => {
                ingest(&server_bin, serial, concurrent, senders, &stores, &pg_options).await;
            }
            Mode::Soak { minutes, rate, store_url } => soak(&server_bin, minutes, rate, store_url).await,
        }
    });
    std::process::ExitCode::SUCCESS
}

// --- the server process ------------------------------------------------------------------

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    async fn start(bin: &Path, store_url: &str) -> Server {
        let port =
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port");
        let child = Command::new(bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--webhook-token", TOKEN])
            .args(["--api-auth", "none", "--store-url", store_url, "--log-filter", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("notify-server starts");
        let server = Server { child, port };
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client.get(server.url("/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("notify-server did not start on {store_url}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The time a read takes right after the last acknowledgement. A store that projects
    /// behind its acknowledgements answers a read only once it has caught up, so this is
    /// its lag; for the others it is one read of a page of events.
    async fn catch_up(&self) -> Duration {
        let started = Instant::now();
        let r = reqwest::get(self.url("/api/v1/events?limit=1")).await.expect("a read");
        assert!(r.status().is_success(), "a read failed: {}", r.status());
        started.elapsed()
    }

    /// (current RSS, peak RSS) in MiB, from /proc.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- sending -------------------------------------------------------------------------------

/// POSTs one event until a 2xx, as a registry does, on a pooled client (the soak sends at a
/// fixed rate, overlapping); returns the latency of the acknowledged attempt.
async fn deliver(client: &reqwest::Client, url: &str, payload: &[u8]) -> Duration {
    loop {
        let started = Instant::now();
        let sent = client
            .post(url)
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/vnd.docker.distribution.events.v1+json")
            .body(payload.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return started.elapsed(),
            Ok(r) if r.status().is_client_error() => panic!("an event was refused: {}", r.status()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Sends `requests` from `senders` concurrent senders, each on its own keep-alive connection
/// to `port`; returns the wall time and every delivery's latency, from its first attempt to
/// its acknowledgement (a registry's queue waits for all of it).
async fn send_all(port: u16, requests: Vec<Request>, senders: usize) -> (Duration, Vec<Duration>) {
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|_| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut connection = Connection::new(port);
                let mut latencies = Vec::new();
                while let Some(request) = requests.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let sent = Instant::now();
                    connection.deliver(request).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a sender"));
    }
    (started.elapsed(), latencies)
}

fn payloads(n: usize, seed: u64) -> Vec<Vec<u8>> {
    events(n, 2_000, seed).iter().map(body).collect()
}

fn requests(port: u16, n: usize, seed: u64) -> Vec<Request> {
    payloads(n, seed).iter().map(|body| Request::post(port, "/events", TOKEN, body)).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

// --- CPU ---------------------------------------------------------------------------------

/// CPU seconds of the sender (this process), the server and the database, at one moment.
#[derive(Clone, Copy)]
struct Cpu {
    sender: f64,
    server: f64,
    database: Option<f64>,
}

impl Cpu {
    fn now(server: &Server, database: Option<u32>) -> Cpu {
        Cpu {
            sender: cpu_seconds(std::process::id(), false),
            server: cpu_seconds(server.child.id(), false),
            database: database.map(|pid| cpu_seconds(pid, true)),
        }
    }

    /// Microseconds of CPU per event since `before`, as a table cell.
    fn per_event(self, before: Cpu, events: usize) -> String {
        let us = |a: f64, b: f64| (a - b) * 1e6 / events as f64;
        let database = match (self.database, before.database) {
            (Some(a), Some(b)) => format!("{:.0}", us(a, b)),
            _ => "not measured".to_owned(),
        };
        format!(
            "{:.0} / {:.0} / {database} µs",
            us(self.sender, before.sender),
            us(self.server, before.server)
        )
    }
}

// --- floors --------------------------------------------------------------------------------

/// A floor's latencies: its median, its 99th percentile and its mean.
///
/// The issue's ratio divides the serial p99 by the floors' typical cost (the HTTP median plus
/// the mean commit); the floors' own p99 says how much of a serial p99 the machine's noise
/// alone would give a server that added nothing to either.
#[derive(Debug, Clone, Copy, Default)]
struct Floor {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Floor {
    fn of(mut latencies: Vec<Duration>) -> Floor {
        latencies.sort();
        let total: Duration = latencies.iter().sum();
        let count = u32::try_from(latencies.len().max(1)).unwrap_or(u32::MAX);
        Floor { p50: percentile(&latencies, 0.5), p99: percentile(&latencies, 0.99), mean: total / count }
    }
}

/// The HTTP floor: GET /healthz answers 200 without touching the store, through the same
/// listener, router and layers.
async fn http_floor(server: &Server) -> Floor {
    let client = reqwest::Client::new();
    let url = server.url("/healthz");
    let mut latencies = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let started = Instant::now();
        let r = client.get(&url).send().await.expect("healthz");
        assert!(r.status().is_success());
        latencies.push(started.elapsed());
    }
    Floor::of(latencies)
}

/// One durable single-row commit on SQLite in the store's directory (WAL, synchronous=FULL).
fn sqlite_commit_floor(dir: &Path) -> Floor {
    let conn = rusqlite::Connection::open(dir.join("floor.db")).expect("sqlite");
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (x INTEGER)")
        .expect("floor table");
    let latencies = (0..1_000)
        .map(|i| {
            let started = Instant::now();
            conn.execute("INSERT INTO t VALUES (?1)", [i]).expect("insert");
            started.elapsed()
        })
        .collect();
    Floor::of(latencies)
}

/// One durable single-row commit on the PostgreSQL server (a logged table, autocommit).
async fn postgres_commit_floor(url: &str) -> Floor {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("postgres");
    tokio::spawn(connection);
    client
        .batch_execute("DROP TABLE IF EXISTS notify_bench_floor; CREATE TABLE notify_bench_floor (x int)")
        .await
        .expect("the floor table");
    let insert = client.prepare("INSERT INTO notify_bench_floor VALUES ($1)").await.expect("prepare");
    let mut latencies = Vec::with_capacity(1_000);
    for i in 0..1_000_i32 {
        let started = Instant::now();
        client.execute(&insert, &[&i]).await.expect("insert");
        latencies.push(started.elapsed());
    }
    let floor = Floor::of(latencies);
    client.batch_execute("DROP TABLE notify_bench_floor").await.expect("dropping the floor table");
    floor
}

// --- PostgreSQL ------------------------------------------------------------------------------

// --- the ingest benchmark ------------------------------------------------------------------

async fn ingest(
    bin: &Path,
    serial: usize,
    concurrent: usize,
    senders: usize,
    stores: &[String],
    pg_options: &str,
) {
    println!(
        "notify-bench ingest: {serial} events from 1 sender, then {concurrent} from {senders} senders; \
         one event per POST, keep-alive"
    );
    for store in stores {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut _cluster = None;
        let (url, commit_floor) = match store.as_str() {
            "sqlite" => {
                let url = format!("sqlite://{}", dir.path().join("notify.db").display());
                (url, Some(sqlite_commit_floor(dir.path())))
            }
            "postgres" => {
                let url = match std::env::var("NOTIFY_PG_URL") {
                    Ok(url) => url,
                    Err(_) if notify_pg_cluster::installed() => {
                        _cluster.insert(Cluster::start(Durability::On)).url()
                    }
                    Err(_) => {
                        println!("\n## postgres: skipped (no NOTIFY_PG_URL and no PostgreSQL 15 installed)");
                        continue;
                    }
                };
                let floor = postgres_commit_floor(&url).await;
                (url, Some(floor))
            }
            "mongo" => match std::env::var("NOTIFY_MONGO_URL") {
                Ok(url) => (url, None),
                Err(_) => {
                    println!("\n## mongo: skipped (set NOTIFY_MONGO_URL)");
                    continue;
                }
            },
            // Nothing stored durably: what the HTTP stack, parsing and translation cost alone,
            // the ceiling of every durable store on the same machine.
            "memory" => ("memory://".to_owned(), None),
            other => {
                println!("\n## {other}: unknown store (sqlite, postgres, mongo, memory)");
                continue;
            }
        };
        let (server_url, heading) = match store.as_str() {
            "postgres" if !pg_options.is_empty() => {
                let joint = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{joint}{pg_options}"), format!("{store} ({pg_options})"))
            }
            _ => (url.clone(), store.clone()),
        };
        let server = Server::start(bin, &server_url).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle, _) = server.memory();
        let http = http_floor(&server).await;

        let database = _cluster.as_ref().and_then(Cluster::server_pid);
        let (serial_requests, concurrent_requests) =
            (requests(server.port, serial, 101), requests(server.port, concurrent, 202));
        let cpu_start = Cpu::now(&server, database);
        let (wall, mut serial_lat) = send_all(server.port, serial_requests, 1).await;
        let serial_lag = server.catch_up().await;
        let cpu_serial = Cpu::now(&server, database);
        serial_lat.sort();
        let serial_rate = serial as f64 / wall.as_secs_f64();
        let (wall, mut conc_lat) = send_all(server.port, concurrent_requests, senders).await;
        let cpu_acknowledged = Cpu::now(&server, database);
        let conc_lag = server.catch_up().await;
        let cpu_concurrent = Cpu::now(&server, database);
        conc_lat.sort();
        let conc_rate = concurrent as f64 / wall.as_secs_f64();
        let (_, peak) = server.memory();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (after, _) = server.memory();

        println!("\n## {heading}\n");
        println!("| | |\n|---|---|");
        println!("| floor: HTTP (GET /healthz, p50) | {:.3} ms (p99 {:.3} ms) |", ms(http.p50), ms(http.p99));
        match commit_floor {
            Some(c) => println!(
                "| floor: one durable single-row commit | {:.3} ms ({:.0} commits/s; p50 {:.3} ms, p99 {:.3} ms) |",
                ms(c.mean),
                1.0 / c.mean.as_secs_f64(),
                ms(c.p50),
                ms(c.p99)
            ),
            None => println!("| floor: one durable single-row commit | not measured for this store |"),
        }
        let commit = commit_floor.unwrap_or_default();
        let floor = http.p50 + commit.mean;
        println!(
            "| serial, 1 sender | {serial_rate:.0} events/s; p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms |",
            ms(percentile(&serial_lat, 0.5)),
            ms(percentile(&serial_lat, 0.99)),
            ms(percentile(&serial_lat, 1.0))
        );
        println!(
            "| serial p99 / (HTTP floor + commit floor) | {:.2} |",
            percentile(&serial_lat, 0.99).as_secs_f64() / floor.as_secs_f64()
        );
        println!(
            "| serial p99 / (HTTP floor's p99 + commit floor's p99) | {:.2} |",
            percentile(&serial_lat, 0.99).as_secs_f64() / (http.p99 + commit.p99).as_secs_f64()
        );
        println!(
            "| concurrent, {senders} senders | {conc_rate:.0} events/s; p50 {:.3} ms, p99 {:.3} ms |",
            ms(percentile(&conc_lat, 0.5)),
            ms(percentile(&conc_lat, 0.99))
        );
        if let Some(c) = commit_floor {
            println!(
                "| concurrent rate × commit floor (>1: commits are shared) | {:.2} |",
                conc_rate * c.mean.as_secs_f64()
            );
        }
        println!(
            "| first read after the last acknowledgement: serial / concurrent | {:.3} / {:.3} ms |",
            ms(serial_lag),
            ms(conc_lag)
        );
        println!(
            "| concurrent, until a read sees every event | {:.0} events/s |",
            concurrent as f64 / (wall + conc_lag).as_secs_f64()
        );
        println!(
            "| CPU per event, serial: sender / server / database | {} |",
            cpu_serial.per_event(cpu_start, serial)
        );
        println!(
            "| CPU per event, concurrent, until acknowledged: sender / server / database | {} |",
            cpu_acknowledged.per_event(cpu_serial, concurrent)
        );
        println!(
            "| CPU per event, concurrent, until a read sees every event | {} |",
            cpu_concurrent.per_event(cpu_serial, concurrent)
        );
        println!("| server RSS: idle / peak / after | {idle:.1} / {peak:.1} / {after:.1} MiB |");
        if let Some(bytes) = database.and_then(huge_page_bytes) {
            let pages = if bytes > 0 { "huge pages" } else { "4 KB pages" };
            println!("| database's shared memory | in {pages} |");
        }
    }
}

// --- soak ------------------------------------------------------------------------------------

async fn soak(bin: &Path, minutes: u64, rate: u64, store_url: Option<String>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = store_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("notify.db").display()));
    let server = Server::start(bin, &url).await;
    let client = reqwest::Client::new();
    let target = server.url("/events");
    println!(
        "notify-bench soak: {rate} events/s for {minutes} min; second, sent, RSS MiB, p99 ms of that second"
    );
    let total = Duration::from_secs(minutes * 60);
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut seed = 1_000;
    let mut sent = 0usize;
    let mut samples = Vec::new();
    while started.elapsed() < total {
        let second = Instant::now();
        let batch = payloads(rate as usize, seed);
        seed += 1;
        let mut latencies = Vec::with_capacity(batch.len());
        let mut in_flight = Vec::new();
        for (i, p) in batch.into_iter().enumerate() {
            let due = second + interval * i as u32;
            tokio::time::sleep_until(due.into()).await;
            let (client, target) = (client.clone(), target.clone());
            in_flight.push(tokio::spawn(async move { deliver(&client, &target, &p).await }));
        }
        for t in in_flight {
            latencies.push(t.await.expect("a delivery"));
        }
        sent += latencies.len();
        latencies.sort();
        let (rss, _) = server.memory();
        let p99 = ms(percentile(&latencies, 0.99));
        println!("{:>5} {sent:>9} {rss:>8.1} {p99:>9.3}", started.elapsed().as_secs());
        samples.push((rss, p99));
    }
    let window = samples.len().div_ceil(10).max(1);
    let avg = |s: &[(f64, f64)]| {
        let n = s.len().max(1) as f64;
        (s.iter().map(|x| x.0).sum::<f64>() / n, s.iter().map(|x| x.1).sum::<f64>() / n)
    };
    let (first_rss, first_p99) = avg(&samples[..window.min(samples.len())]);
    let (last_rss, last_p99) = avg(&samples[samples.len().saturating_sub(window)..]);
    println!(
        "first tenth: RSS {first_rss:.1} MiB, p99 {first_p99:.3} ms; last tenth: RSS {last_rss:.1} MiB, p99 {last_p99:.3} ms"
    );
}
