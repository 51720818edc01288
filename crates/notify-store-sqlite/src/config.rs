//! Where the database file lives and how hard commits insist on reaching the disk.
//!
//! A store is named by a URL, `sqlite://` followed by a file path: `sqlite://./notify.db` and
//! `sqlite://data/notify.db` are relative to the working directory, `sqlite:///var/lib/notify.db`
//! is absolute (the third slash starts the path); the shorter `sqlite:notify.db` is read as
//! `sqlite://notify.db`. Settings may follow as a query string:
//! `?synchronous=normal&readers=8&busy_timeout_ms=10000&max_batch=64&group_wait_us=500`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::error::SqliteError;

/// The URL of the default store: `notify.db` in the working directory.
pub const DEFAULT_URL: &str = "sqlite://./notify.db";

/// SQLite's `PRAGMA synchronous`: when a commit waits for the disk.
///
/// In WAL mode, `Full` syncs the log on every commit, so a commit that returned survives a
/// power cut; `Normal` syncs only at checkpoints, so the last commits before a power cut (not
/// a process crash) may be lost, which the registry then redelivers only if it still retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// No syncing at all: a crash of the machine may corrupt the database. For benchmarks.
    Off,
    /// Sync at checkpoints only.
    Normal,
    /// Sync the log at every commit (the default).
    #[default]
    Full,
    /// `Full`, and sync the directory too when the log is reset.
    Extra,
}

impl Synchronous {
    /// The pragma's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_ascii_lowercase())
    }
}

impl FromStr for Synchronous {
    type Err = SqliteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "0" => Ok(Synchronous::Off),
            "normal" | "1" => Ok(Synchronous::Normal),
            "full" | "2" => Ok(Synchronous::Full),
            "extra" | "3" => Ok(Synchronous::Extra),
            _ => {
                Err(SqliteError::Config(format!("synchronous must be off, normal, full or extra, not {s:?}")))
            }
        }
    }
}

/// Settings of a [`SqliteStore`](crate::SqliteStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The database file; created, with its directory, when missing. SQLite keeps two more
    /// files beside it while it is open (`-wal`, `-shm`).
    pub path: PathBuf,
    /// When commits wait for the disk.
    pub synchronous: Synchronous,
    /// Read connections kept open at most; reads beyond that many wait for one.
    pub readers: usize,
    /// How long a statement waits for a lock held by another process before the store reports
    /// itself unavailable.
    pub busy_timeout: Duration,
    /// Most writes committed together in one transaction when they queue up.
    pub max_batch: usize,
    /// After committing a batch of several writes, how long the writer waits for as many to
    /// queue again before committing the next (0: commit whatever has queued). A fraction of
    /// a disk sync: concurrent writers then share one sync instead of alternating between two.
    pub group_wait: Duration,
}

impl SqliteConfig {
    /// Settings for the file at `path` with the defaults: `synchronous=FULL`, 4 readers, a
    /// 5 s busy timeout, batches of up to 128 writes gathered for up to 0.5 ms.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::Full,
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            max_batch: 128,
            group_wait: Duration::from_micros(500),
        }
    }

    /// The same settings with another synchronous mode.
    pub fn with_synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// Parses a `sqlite://PATH[?key=value&…]` URL (see the module docs). Keys: `synchronous`,
    /// `readers`, `busy_timeout_ms`, `max_batch`, `group_wait_us`.
    ///
    /// ```
    /// use notify_store_sqlite::{SqliteConfig, Synchronous};
    /// let c = SqliteConfig::from_url("sqlite:///var/lib/notify/notify.db?synchronous=normal").unwrap();
    /// assert_eq!(c.path, std::path::Path::new("/var/lib/notify/notify.db"));
    /// assert_eq!(c.synchronous, Synchronous::Normal);
    /// assert_eq!(SqliteConfig::from_url("sqlite://./notify.db").unwrap().path, std::path::Path::new("./notify.db"));
    /// ```
    pub fn from_url(url: &str) -> Result<Self, SqliteError> {
        let bad = |why: &str| SqliteError::Url { url: url.to_owned(), reason: why.to_owned() };
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| bad("it does not start with sqlite://"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(bad("it names no file"));
        }
        if path == ":memory:" || path.starts_with("file:") {
            return Err(bad("the store needs a file on disk, not an in-memory or URI database"));
        }
        if path.ends_with('/') {
            return Err(bad("it names a directory, not a file"));
        }
        let mut config = SqliteConfig::new(path);
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| bad(&format!("{pair:?} is not key=value")))?;
            let number =
                || value.parse::<u64>().map_err(|_| bad(&format!("{key}={value:?} is not a number")));
            match key {
                "synchronous" => config.synchronous = value.parse()?,
                "readers" => config.readers = usize::try_from(number()?).unwrap_or(usize::MAX),
                "busy_timeout_ms" => config.busy_timeout = Duration::from_millis(number()?),
                "max_batch" => config.max_batch = usize::try_from(number()?).unwrap_or(usize::MAX),
                "group_wait_us" => config.group_wait = Duration::from_micros(number()?),
                _ => return Err(bad(&format!("unknown setting {key:?}"))),
            }
        }
        config.check()?;
        Ok(config)
    }

    /// The URL that [`SqliteConfig::from_url`] reads back into these settings' path and
    /// synchronous mode.
    pub fn to_url(&self) -> String {
        let path = self.path.display().to_string();
        let path = if self.path.is_absolute() || path.starts_with('.') { path } else { format!("./{path}") };
        match self.synchronous {
            Synchronous::Full => format!("sqlite://{path}"),
            other => format!("sqlite://{path}?synchronous={other}"),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn check(&self) -> Result<(), SqliteError> {
        if self.readers == 0 {
            return Err(SqliteError::Config("readers must be at least 1".to_owned()));
        }
        if self.max_batch == 0 {
            return Err(SqliteError::Config("max_batch must be at least 1".to_owned()));
        }
        if self.path.as_os_str().is_empty() {
            return Err(SqliteError::Config("the database path is empty".to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_paths() {
        let rel = SqliteConfig::from_url("sqlite://./notify.db").unwrap();
        assert_eq!(rel.path, Path::new("./notify.db"));
        assert_eq!(rel.synchronous, Synchronous::Full);
        assert_eq!(SqliteConfig::from_url("sqlite://data/n.db").unwrap().path, Path::new("data/n.db"));
        assert_eq!(SqliteConfig::from_url("sqlite:///abs/path.db").unwrap().path, Path::new("/abs/path.db"));
        assert_eq!(SqliteConfig::from_url("sqlite:n.db").unwrap().path, Path::new("n.db"));
    }

    #[test]
    fn settings_in_the_query_string() {
        let c =
            SqliteConfig::from_url("sqlite://n.db?synchronous=OFF&readers=2&busy_timeout_ms=250&max_batch=1")
                .unwrap();
        assert_eq!(c.synchronous, Synchronous::Off);
        assert_eq!(c.readers, 2);
        assert_eq!(c.busy_timeout, Duration::from_millis(250));
        assert_eq!(c.max_batch, 1);
    }

    #[test]
    fn malformed_urls_are_refused() {
        for bad in [
            "postgres://x",
            "sqlite://",
            "sqlite://?synchronous=full",
            "sqlite://:memory:",
            "sqlite://dir/",
            "sqlite://n.db?synchronous=sometimes",
            "sqlite://n.db?readers=0",
            "sqlite://n.db?readers=many",
            "sqlite://n.db?colour=blue",
            "sqlite://n.db?novalue",
            "notify.db",
        ] {
            assert!(SqliteConfig::from_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn urls_round_trip() {
        for url in [
            "sqlite://./notify.db",
            "sqlite:///var/x.db?synchronous=normal",
            "sqlite://./a/b.db?synchronous=off",
        ] {
            assert_eq!(SqliteConfig::from_url(url).unwrap().to_url(), url);
        }
        assert_eq!(SqliteConfig::new("n.db").to_url(), "sqlite://./n.db");
    }
}
