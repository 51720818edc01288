//! A throwaway PostgreSQL 15 cluster for the tests that need a database server.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use notify_store_pg::{PgConfig, PgStore};

/// Reports a test that cannot run here. Under `NOTIFY_REQUIRE_SERVICES=1` (what `scripts/test`
/// sets) that is a failure: a test that silently does nothing proves nothing.
pub fn unavailable(why: &str) {
    if std::env::var("NOTIFY_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

pub fn pg_bin(program: &str) -> PathBuf {
    std::env::var_os("NOTIFY_PG_BIN")
        .map_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"), PathBuf::from)
        .join(program)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A throwaway cluster, stopped and removed when dropped (also when a test panics).
pub struct Cluster {
    root: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_bin(program));
            c
        } else {
            Command::new(pg_bin(program))
        }
    }

    pub fn start() -> Option<Cluster> {
        if !pg_bin("initdb").exists() {
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let as_postgres = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        if as_postgres {
            assert!(
                Command::new("chown").args(["-R", "postgres"]).arg(root.path()).status().unwrap().success()
            );
        }
        let cluster = Cluster { root, port: free_port(), as_postgres };
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.root.path().join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        cluster.pg_ctl("start");
        Some(cluster)
    }

    pub fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.root.path().display()
        );
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(self.root.path().join("data")).arg("-l").arg(self.root.path().join("log"));
        if action == "start" {
            cmd.args(["-w", "-o", &options, "start"]);
        } else {
            cmd.args(["-w", "-m", "fast", "stop"]);
        }
        assert!(cmd.stdout(Stdio::null()).status().unwrap().success(), "pg_ctl {action}");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.root.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The database to use: `NOTIFY_PG_URL`'s server, else a throwaway cluster.
pub fn database_server() -> Option<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var("NOTIFY_PG_URL") {
        return Some((url, None));
    }
    let Some(cluster) = Cluster::start() else {
        unavailable("no PostgreSQL (set NOTIFY_PG_URL or install postgresql-15)");
        return None;
    };
    Some((cluster.url(), Some(cluster)))
}

/// A database of its own on the given server.
pub async fn fresh_database(server_url: &str, name: &str) -> String {
    let admin = PgStore::connect_without_migrating(&PgConfig::new(server_url)).unwrap();
    let client = admin.pool().get().await.unwrap();
    // One statement per call: a multi-statement batch is a transaction, which these refuse.
    let name = format!("{name}_{}", std::process::id());
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = server_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}
