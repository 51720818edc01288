//! A PostgreSQL to test against: the one `NOTIFY_PG_URL` names, or a throwaway PostgreSQL 15
//! cluster started here, shared by all tests of one test binary, in a temporary directory.
//!
//! The throwaway cluster is stopped and its directory removed by a watchdog process that
//! outlives nothing but the test binary: it polls for the binary's pid and tears the cluster
//! down as soon as the binary is gone, however it ended (success, panic, abort, kill), which a
//! `static` (never dropped) could not do. `initdb` and `pg_ctl` refuse to run as root, so
//! under root they run as the `postgres` user on a directory it owns.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use notify_store_pg::{PgConfig, PgStore};

/// Where the PostgreSQL 15 server programs are.
fn pg_bin(program: &str) -> PathBuf {
    let dir = std::env::var_os("NOTIFY_PG_BIN")
        .map_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"), PathBuf::from);
    let path = dir.join(program);
    if path.exists() { path } else { PathBuf::from(program) }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A server cluster in a directory of its own.
pub(crate) struct Cluster {
    /// The URL of its `postgres` database.
    pub(crate) url: String,
    root: Option<PathBuf>,
    as_postgres: bool,
}

impl Cluster {
    /// Runs a server program, as `postgres` when we are root.
    fn command(as_postgres: bool, program: &str) -> Command {
        if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_bin(program));
            c
        } else {
            Command::new(pg_bin(program))
        }
    }

    /// Starts a new cluster. `durable` keeps fsync on (for figures that mean something);
    /// tests turn it off for speed.
    pub(crate) fn start(durable: bool) -> Cluster {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "notify-pg-{}-{}-{}",
            std::process::id(),
            nanos,
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(root.join("sock")).expect("cannot create the cluster directory");
        let as_postgres = running_as_root();
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root).status();
            assert!(ok.is_ok_and(|s| s.success()), "cannot chown {} to postgres", root.display());
        }
        let mut cluster = Cluster { url: String::new(), root: Some(root.clone()), as_postgres };
        cluster.watch(&root);
        let data = root.join("data");
        let out = Cluster::command(as_postgres, "initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .expect("cannot run initdb (is PostgreSQL 15 installed?)");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let fsync =
            if durable { "" } else { " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" };
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("no free loopback port");
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 \
                 -c shared_buffers=256MB{fsync}",
                root.join("sock").display()
            );
            let status = Cluster::command(as_postgres, "pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(root.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .stdout(Stdio::null())
                .status()
                .expect("cannot run pg_ctl");
            if status.success() {
                cluster.url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
                return cluster;
            }
        }
        let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
        panic!("the test cluster did not start:\n{log}");
    }

    /// Spawns the watchdog that stops the cluster and removes its directory once this
    /// process is gone. `setsid` keeps it out of our process group, so a Ctrl-C that ends the
    /// tests does not end it before it has cleaned up.
    fn watch(&self, root: &Path) {
        let pg_ctl = pg_bin("pg_ctl");
        let stop = format!(
            "{}{} -D {} stop -m immediate",
            if self.as_postgres { "runuser -u postgres -- " } else { "" },
            pg_ctl.display(),
            root.join("data").display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             if [ -f {data}/postmaster.pid ]; then {stop} >/dev/null 2>&1; fi; rm -rf {root}",
            pid = std::process::id(),
            data = root.join("data").display(),
            root = root.display(),
        );
        // Never waited for: it is meant to outlive this process.
        #[allow(clippy::zombie_processes)]
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the cluster watchdog");
    }

    /// Stops the server now (the directory goes with the watchdog).
    pub(crate) fn stop(&self) {
        if let Some(root) = &self.root {
            let _ = Cluster::command(self.as_postgres, "pg_ctl")
                .arg("-D")
                .arg(root.join("data"))
                .args(["stop", "-m", "immediate"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// A URL of this cluster's `postgres` database with its pid-free port.
    pub(crate) fn config(&self, schema: &str) -> PgConfig {
        PgConfig::new(self.url.clone()).with_schema(schema).with_pool_size(4)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The cluster all tests of this binary share.
pub(crate) fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| match std::env::var("NOTIFY_PG_URL") {
        Ok(url) if !url.is_empty() => Cluster { url, root: None, as_postgres: false },
        _ => Cluster::start(false),
    })
}

/// A schema name no other test (of this or another run) uses.
pub(crate) fn fresh_schema() -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() % 1_000_000_000_000).unwrap_or(0);
    format!("t_{}_{}_{}", std::process::id(), nanos, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A migrated store in a schema of its own.
pub(crate) async fn fresh_store() -> TestStore {
    fresh_store_with_pool(4).await
}

/// A migrated store in a schema of its own, with `pool_size` connections.
pub(crate) async fn fresh_store_with_pool(pool_size: usize) -> TestStore {
    let config = cluster().config(&fresh_schema()).with_pool_size(pool_size);
    let store = PgStore::connect(&config).await.expect("cannot connect to the test database");
    TestStore { store, config }
}

/// A store whose schema is dropped when it goes out of scope, when the database outlives the
/// tests (`NOTIFY_PG_URL`); a throwaway cluster goes as a whole.
pub(crate) struct TestStore {
    pub(crate) store: PgStore,
    pub(crate) config: PgConfig,
}

impl std::ops::Deref for TestStore {
    type Target = PgStore;

    fn deref(&self) -> &PgStore {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if cluster().root.is_some() {
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with
        // a runtime of its own.
        let config = self.config.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) =
                    tokio_postgres::connect(&config.url, tokio_postgres::NoTls).await.ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", config.schema))
                    .await
                    .ok()
            })
        })
        .join();
    }
}
