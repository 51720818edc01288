//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, `pg_ctl start` on a
//! free loopback port, torn down when the value is dropped and, failing that, when the
//! process that started it is gone.
//!
//! ```no_run
//! let cluster = notify_pg_cluster::Cluster::start(notify_pg_cluster::Durability::Off);
//! println!("{}", cluster.url()); // postgres://postgres@127.0.0.1:…/postgres
//! ```
//!
//! The server programs are Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`) unless
//! `NOTIFY_PG_BIN` names another directory. `initdb` and `pg_ctl` refuse to run as root, so
//! under root they run as the `postgres` user (`runuser`) on a directory that user owns.
//!
//! A watchdog process (`setsid sh`) polls for the starting process and, once it is gone,
//! stops the server and removes the directory. That covers what `Drop` cannot: a `static`
//! cluster shared by the tests of one binary (never dropped), a panic that aborts, a kill.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether commits reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` on, with the settings of a server set up for sustained writes
    /// ([`durable_settings`]), as in production: for figures that mean something.
    On,
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: for tests, which only need
    /// the server's answers.
    Off,
}

/// What a durable cluster sets beyond PostgreSQL's defaults, as `docs/user-guide.md`
/// recommends for a store under sustained traffic:
///
/// - a buffer cache of a quarter of the memory, at most 8 GB, so that the indexes that
///   every event touches at random (the log's by digest, links, content) stay in it rather
///   than being written out and read back from the kernel's cache (at 10 M events they
///   outgrow 4 GB; 8 GB bounds what a benchmark takes of a large machine);
/// - checkpoints at most every 15 minutes or 16 GB of WAL, with full-page images
///   compressed: with PostgreSQL's 1 GB, a checkpoint falls every few seconds under load,
///   and the first change of each page after one writes the whole page to the WAL again.
///
/// ```
/// let settings = notify_pg_cluster::durable_settings();
/// assert!(settings.iter().any(|(name, _)| *name == "max_wal_size"));
/// ```
pub fn durable_settings() -> Vec<(&'static str, String)> {
    const MIB: u64 = 1024 * 1024;
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:").map(str::to_owned)))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(1024 * MIB, |kb| kb * 1024);
    let buffers = (memory / 4).clamp(128 * MIB, 8192 * MIB) / MIB;
    vec![
        ("shared_buffers", format!("{buffers}MB")),
        ("max_wal_size", "16GB".to_owned()),
        ("checkpoint_timeout", "15min".to_owned()),
        ("wal_compression", "lz4".to_owned()),
    ]
}

/// Where the PostgreSQL server programs are.
pub fn pg_bin(program: &str) -> PathBuf {
    std::env::var_os("NOTIFY_PG_BIN")
        .map_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"), PathBuf::from)
        .join(program)
}

/// Whether the server programs are installed, i.e. whether [`Cluster::start`] can work.
pub fn installed() -> bool {
    pg_bin("initdb").exists() && pg_bin("pg_ctl").exists()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// `/proc/<pid>/stat` fields after the command name: (parent pid, CPU seconds of the process,
/// CPU seconds of its reaped children). Linux counts in USER_HZ, 100 per second.
fn proc_stat(pid: u32) -> Option<(u32, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    Some((fields.get(1)?.parse().ok()?, ticks(11) + ticks(12), ticks(13) + ticks(14)))
}

/// CPU seconds used so far by a process and, with `children`, by the processes it started
/// (a PostgreSQL server: the postmaster, its backends, and the backends that have exited).
/// Zero when the process is gone; Linux only (read from `/proc`).
pub fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let Some((_, own, reaped)) = proc_stat(pid) else { return 0.0 };
    if !children {
        return own;
    }
    let live: f64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .filter(|(parent, _, _)| *parent == pid)
        .map(|(_, cpu, _)| cpu)
        .sum();
    own + reaped + live
}

/// The huge pages a process has mapped, in bytes (`HugetlbPages` in `/proc/<pid>/status`);
/// `None` when that cannot be read. A PostgreSQL postmaster maps some at once when its
/// shared memory is in huge pages, and none when it is in the kernel's 4 KB pages.
///
/// With the default `huge_pages = try`, PostgreSQL puts its shared memory in huge pages only
/// when the kernel has enough reserved (`vm.nr_hugepages`), and says nothing either way; a
/// benchmark prints this so that its figures say which they had (see `docs/user-guide.md`:
/// every backend otherwise maps the buffer cache a 4 KB page at a time).
///
/// ```
/// // Not a PostgreSQL server, but any process answers: no huge pages.
/// assert_eq!(notify_pg_cluster::huge_page_bytes(std::process::id()), Some(0));
/// ```
pub fn huge_page_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("HugetlbPages:"))?;
    kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kb| kb * 1024)
}

/// A running server on a data directory of its own.
#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    port: u16,
    durability: Durability,
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts a cluster; panics, with initdb's or the server's log, when that
    /// fails (check [`installed`] first to skip instead).
    pub fn start(durability: Durability) -> Cluster {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let root = std::env::temp_dir().join(format!(
            "notify-pg-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(root.join("sock")).expect("cannot create the cluster directory");
        let as_postgres = running_as_root();
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&root).status();
            assert!(ok.is_ok_and(|s| s.success()), "cannot chown {} to postgres", root.display());
        }
        let mut cluster = Cluster { root, port: 0, durability, as_postgres };
        cluster.watch();
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data())
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
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            cluster.port = free_port();
            if cluster.pg_ctl_start() {
                return cluster;
            }
        }
        panic!("the cluster did not start:\n{}", cluster.log());
    }

    /// The URL of its `postgres` database, as the `postgres` superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster's process id, while it runs.
    pub fn server_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?.lines().next()?.trim().parse().ok()
    }

    /// CPU seconds used so far by the server and all its processes (see [`cpu_seconds`]).
    pub fn cpu_seconds(&self) -> f64 {
        self.server_pid().map_or(0.0, |pid| cpu_seconds(pid, true))
    }

    /// Stops the server, letting it finish cleanly (`pg_ctl stop -m fast`), and waits.
    pub fn stop(&self) {
        let stopped = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "fast", "stop"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(stopped, "pg_ctl stop failed");
    }

    /// Starts the stopped server again, on the same port.
    pub fn restart(&self) {
        assert!(self.pg_ctl_start(), "the cluster did not start again:\n{}", self.log());
    }

    fn pg_ctl_start(&self) -> bool {
        let settings = match self.durability {
            Durability::On => {
                durable_settings().into_iter().map(|(name, value)| format!(" -c {name}={value}")).collect()
            }
            Durability::Off => {
                " -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                    .to_owned()
            }
        };
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300{settings}",
            self.port,
            self.root.join("sock").display()
        );
        self.command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// A server program, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_bin(program));
            c
        } else {
            Command::new(pg_bin(program))
        }
    }

    /// Spawns the watchdog. `setsid` keeps it out of our process group, so that a Ctrl-C
    /// which ends us does not end it before it has cleaned up.
    fn watch(&self) {
        let stop = format!(
            "{}{} -D {} stop -m immediate",
            if self.as_postgres { "runuser -u postgres -- " } else { "" },
            pg_bin("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             if [ -f {data}/postmaster.pid ]; then {stop} >/dev/null 2>&1; fi; rm -rf {root}",
            pid = std::process::id(),
            data = self.data().display(),
            root = self.root.display(),
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

    /// The cluster's directory (data, socket, server log).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Cluster {
    /// Stops the server at once; the directory goes with the watchdog.
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_durable_buffer_cache_is_a_quarter_of_the_memory_within_bounds() {
        let settings = durable_settings();
        let buffers = settings.iter().find(|(name, _)| *name == "shared_buffers").map(|(_, v)| v.as_str());
        let mib: u64 =
            buffers.and_then(|v| v.strip_suffix("MB")?.parse().ok()).expect("shared_buffers in MB");
        assert!((128..=8192).contains(&mib), "shared_buffers {mib} MB");
        let names: Vec<&str> = settings.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, ["shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression"]);
    }
}
