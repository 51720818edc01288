//! Where the tests' MongoDB comes from, and a fresh database for each test.
//!
//! With `NOTIFY_MONGO_URL` set, every test runs against that deployment (a real MongoDB), each in
//! a database of its own that is dropped when the test ends. Without it, the tests start the
//! wire-protocol emulator (`tests/emulator/mongo_emulator.py`: mockupdb + mongomock) once per test
//! binary on a free loopback port. The emulator watches its standard input: when the test
//! process ends, however it ends, the pipe closes and the emulator exits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use notify_store_mongo::{MongoConfig, MongoStore};

pub(crate) mod synthetic;

/// The environment variable naming a real MongoDB to test against.
pub(crate) const URL_ENV: &str = "NOTIFY_MONGO_URL";

struct Emulator {
    url: String,
    // Held for the life of the process: dropping them would stop the emulator.
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

fn start_emulator() -> Emulator {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/emulator/mongo_emulator.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start python3 {script}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let stdin = child.stdin.take().expect("piped stdin");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("reading the emulator's first line");
    let port: u16 = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok()).unwrap_or_else(|| {
        panic!(
            "the MongoDB emulator did not start (first line {line:?}); it needs the PyPI packages \
             mockupdb, mongomock and pymongo: pip install mockupdb mongomock pymongo; or set \
             {URL_ENV} to a real MongoDB"
        )
    });
    Emulator {
        url: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    }
}

/// The URL of the deployment under test.
pub(crate) fn server_url() -> String {
    match std::env::var(URL_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => EMULATOR.get_or_init(start_emulator).url.clone(),
    }
}

/// Whether the tests run against the emulator.
pub(crate) fn on_emulator() -> bool {
    std::env::var(URL_ENV).map_or(true, |u| u.is_empty())
}

/// A database name no other test (or test process) uses.
pub(crate) fn fresh_database() -> String {
    let n = DATABASES.fetch_add(1, Ordering::SeqCst);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("notify_test_{}_{nanos}_{n}", std::process::id())
}

/// The configuration of a fresh database on the deployment under test.
pub(crate) fn fresh_config() -> MongoConfig {
    let mut config = MongoConfig::new(server_url()).with_database(fresh_database());
    config.server_selection_timeout = Some(Duration::from_secs(10));
    config
}

/// A store on its own database, dropped (on a real server) when the handle is.
pub(crate) struct TestStore {
    store: MongoStore,
    url: String,
    database: String,
}

impl Deref for TestStore {
    type Target = MongoStore;

    fn deref(&self) -> &MongoStore {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if on_emulator() {
            // The emulator's data dies with it; nothing to clean.
            return;
        }
        let (url, database) = (self.url.clone(), self.database.clone());
        // The test's runtime may be the one dropping us: clean up on a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&url).await.ok()?;
                client.database(&database).drop().await.ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// A store with `config`.
pub(crate) async fn store_with(config: MongoConfig) -> TestStore {
    let store = MongoStore::connect(&config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", config.url));
    TestStore { store, url: config.url, database: config.database }
}

/// A store on a fresh, empty database.
pub(crate) async fn fresh_store() -> TestStore {
    store_with(fresh_config()).await
}

/// A TCP proxy in front of the deployment under test, to cut a store off from it.
pub(crate) struct Proxy {
    /// A URL reaching the deployment through the proxy (a direct connection).
    pub(crate) url: String,
    tasks: tokio::task::JoinSet<()>,
    connections: std::sync::Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    /// Starts a proxy to the first host of the URL under test; `None` for URLs it cannot
    /// rewrite (`mongodb+srv://`).
    pub(crate) async fn start() -> Option<Proxy> {
        let url = server_url();
        let rest = url.strip_prefix("mongodb://")?;
        let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((c, h)) => (format!("{c}@"), h),
            None => (String::new(), authority),
        };
        let upstream = hosts.split(',').next()?.to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
        let port = listener.local_addr().ok()?.port();
        let connections: std::sync::Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let mut tasks = tokio::task::JoinSet::new();
        let tracked = connections.clone();
        tasks.spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap_or_else(|p| p.into_inner()).push(handle.abort_handle());
            }
        });
        // Options of the original URL stay (credentials, TLS, …), but only the proxy is
        // contacted: no replica set discovery around it.
        let (path, query) = tail.split_once('?').map_or((tail, ""), |(p, q)| (p, q));
        let options: Vec<&str> =
            query.split('&').filter(|o| !o.is_empty() && !o.starts_with("directConnection=")).collect();
        let mut options = options.join("&");
        if !options.is_empty() {
            options.push('&');
        }
        let url = format!("mongodb://{credentials}127.0.0.1:{port}/{path}?{options}directConnection=true");
        Some(Proxy { url, tasks, connections })
    }

    /// Closes every connection and stops accepting new ones.
    pub(crate) fn cut(&mut self) {
        self.tasks.abort_all();
        for handle in self.connections.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            handle.abort();
        }
    }
}
