//! The embedded SQLite backend of [`notify_core::Storage`]: durable storage in one local file,
//! with nothing to install.
//!
//! ```no_run
//! # async fn run() -> Result<(), notify_store_sqlite::SqliteError> {
//! use notify_store_sqlite::{SqliteConfig, SqliteStore};
//! let store = SqliteStore::open(&SqliteConfig::from_url("sqlite://./notify.db")?).await?;
//! # Ok(()) }
//! ```
//!
//! SQLite is compiled into the binary (rusqlite's `bundled` feature), so the store needs no
//! system library either.
//!
//! # Schema
//!
//! Created and upgraded when the store opens, by the embedded, versioned [`migrate`] runner
//! (`PRAGMA user_version`). Tables (all `STRICT`):
//!
//! | table | key | holds |
//! |---|---|---|
//! | `events` | `id` | the append-only log: the filter columns, the flags, the raw JSON text |
//! | `content` | `digest` | kind (rank in the core's order), media type, size, artifact type, first seen |
//! | `content_references` | parent, child, kind | manifest → content edges, declared media type and size |
//! | `repositories` | rowid; unique (registry, name) | last-seen stamp, delete register, counters, first/last times |
//! | `repository_actors` | repository, role, actor | distinct pushers and pullers |
//! | `links` | repository, digest | first seen, last-seen stamp, delete register, pull count, last pull |
//! | `tags` | repository, tag | the tag register (newest set or delete), push/pull counters, last pull |
//! | `tag_history` | repository, tag, stamp | every set (digest) and delete (NULL) |
//! | `quarantine` | `key` | unmodellable events verbatim |
//!
//! Times are Unix microseconds, the core's [`Timestamp`] exactly. A
//! [`Stamp`](notify_core::Stamp) is an `(x_at, x_event)` column pair compared as a row value;
//! text compares byte by byte (SQLite's `BINARY` collation), which is the order of Rust's
//! `String` that the reference store sorts by.
//!
//! Every read has an index. The log is indexed by `(at, id)` and by repository, digest, actor
//! and client IP each followed by `(at, id)`, so a newest-first page is a backward range scan;
//! a filter on registry, tag or action alone (few distinct values, or used with a repository)
//! walks the `(at, id)` index newest first and skips what does not match. Tags and tag history
//! are read by their keys, where a digest lives by `links (digest)`, what references it by
//! `content_references (child)`, the inventory and repository lists by the `(registry, name)`
//! key. Repository search by prefix is a range on an indexed name column; search by substring
//! scans the repositories with `instr()` (SQLite has no trigram index; a registry has
//! thousands of repositories, not millions, and the scan takes well under a millisecond).
//!
//! # Durability
//!
//! The file is in WAL mode, with `synchronous=FULL` by default ([`Synchronous`]): a commit
//! returns only once the log is synced, so an event acknowledged to the registry survives a
//! crash or a power cut. [`Storage::apply`] stores a plan in one transaction; its first
//! statement, `INSERT INTO events … ON CONFLICT (id) DO NOTHING`, is the dedup gate: when it
//! changes no row the event is a duplicate and nothing else is written. Every projection write
//! is an order-independent merge (see [`notify_core::command`]), applied exactly as the
//! reference store applies it. The log is copied into the database file (checkpointed) every
//! 8000 pages, by the commit that crosses that size.
//!
//! # Threading
//!
//! No SQLite call runs on an async worker thread. Writes go through a channel to one writer
//! thread that owns the only writing connection and commits queued writes together (group
//! commit: one disk sync for a whole batch, each write answered only after the commit; see
//! the `writer` module). Reads run on a small pool of read connections on tokio's
//! blocking threads; in WAL mode they neither wait for the writer nor block it. Several
//! processes may open the same file: SQLite's locks serialise their writers, and a writer that
//! waits longer than the busy timeout reports [`StorageError::Unavailable`].
//!
//! # Errors
//!
//! Opening fails with [`SqliteError`] (which converts into [`StorageError`]). The trait's [`StorageError`] is `Unavailable` for
//! anything that may pass (a lock held by another process, I/O errors, a full disk),
//! `Rejected` for data SQLite refuses (constraint and type errors, oversized values) and
//! `Internal` for the rest.

mod apply;
mod config;
mod connection;
mod error;
mod kinds;
pub mod migrate;
mod read;
mod readers;
mod writer;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use notify_core::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag, QuarantineQuery,
    QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary, TagHistoryEntry,
    TagSummary, UnusedItem, UnusedQuery,
};
use notify_core::{
    ApplyOutcome, Digest, LogEntry, PageRequest, Plan, RepoRef, Storage, StorageError, Tag, Timestamp,
};

pub use config::{DEFAULT_URL, SqliteConfig, Synchronous};
pub use error::SqliteError;

use crate::readers::Readers;
use crate::writer::Writer;

/// The SQLite store: one writer thread and a pool of readers on one database file.
///
/// Cheap to clone; clones share the file's connections. When the last clone is dropped, the
/// writer finishes the writes already queued and closes the file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SqliteConfig,
    // Dropped before the readers: the writer's close checkpoints the log.
    writer: Writer,
    readers: Arc<Readers>,
}

impl SqliteStore {
    /// Opens the database file (creating it and its directory when missing), migrates it to
    /// the latest schema and starts the writer thread. The file work runs on a blocking
    /// thread.
    pub async fn open(config: &SqliteConfig) -> Result<Self, SqliteError> {
        Self::open_at_version(config, migrate::latest_version()).await
    }

    /// Opens a store from a `sqlite://` URL (see [`SqliteConfig::from_url`]).
    pub async fn open_url(url: &str) -> Result<Self, SqliteError> {
        Self::open(&SqliteConfig::from_url(url)?).await
    }

    /// [`SqliteStore::open`] for callers without an async context (tools, tests). The store's
    /// methods still need a tokio runtime.
    pub fn open_blocking(config: &SqliteConfig) -> Result<Self, SqliteError> {
        Self::open_sync(config, migrate::latest_version())
    }

    /// Opens the store migrated only up to schema `version` (at most
    /// [`migrate::latest_version`]), as an older build would have left it: for testing
    /// upgrades. A later [`SqliteStore::open`] applies the rest.
    pub async fn open_at_version(config: &SqliteConfig, version: u32) -> Result<Self, SqliteError> {
        let config = config.clone();
        tokio::task::spawn_blocking(move || Self::open_sync(&config, version))
            .await
            .map_err(|e| SqliteError::Thread(std::io::Error::other(e)))?
    }

    fn open_sync(config: &SqliteConfig, version: u32) -> Result<Self, SqliteError> {
        config.check()?;
        if version > migrate::latest_version() {
            return Err(SqliteError::Config(format!(
                "schema version {version} is newer than this build's {}",
                migrate::latest_version()
            )));
        }
        let mut conn = connection::open_writer(config)?;
        migrate::run(&mut conn, &config.path, version)?;
        let grouping = writer::Grouping { max_batch: config.max_batch, wait: config.group_wait };
        let writer = Writer::start(conn, grouping)?;
        let readers = Readers::new(config.clone());
        Ok(SqliteStore { inner: Arc::new(Inner { config: config.clone(), writer, readers }) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.config.path
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// The file's schema version.
    pub async fn schema_version(&self) -> Result<u32, StorageError> {
        self.inner
            .readers
            .read(|conn| {
                migrate::current_version(conn).map_err(|e| error::classify("reading the version", e))
            })
            .await
    }
}

#[async_trait]
impl Storage for SqliteStore {
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        self.inner.writer.apply(plan).await
    }

    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        self.inner.writer.quarantine(record).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.writer.ping().await
    }

    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError> {
        let query = query.clone();
        self.inner.readers.read(move |conn| read::repositories(conn, &query)).await
    }

    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError> {
        let (repo, page) = (repo.clone(), page.clone());
        self.inner.readers.read(move |conn| read::tags(conn, &repo, &page)).await
    }

    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        let (repo, page) = (repo.clone(), page.clone());
        self.inner.readers.read(move |conn| read::tags_at(conn, &repo, instant, &page)).await
    }

    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        let (repo, tag, page) = (repo.clone(), tag.clone(), page.clone());
        self.inner.readers.read(move |conn| read::tag_history(conn, &repo, &tag, &page)).await
    }

    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        let digest = digest.clone();
        self.inner.readers.read(move |conn| read::digest(conn, &digest)).await
    }

    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        let (digest, page) = (digest.clone(), page.clone());
        self.inner.readers.read(move |conn| read::digest_repositories(conn, &digest, &page)).await
    }

    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        let (digest, page) = (digest.clone(), page.clone());
        self.inner.readers.read(move |conn| read::digest_referrers(conn, &digest, &page)).await
    }

    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        let query = query.clone();
        self.inner.readers.read(move |conn| read::events(conn, &query)).await
    }

    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        let repo = repo.clone();
        self.inner.readers.read(move |conn| read::repository_stats(conn, &repo)).await
    }

    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
        let query = query.clone();
        self.inner.readers.read(move |conn| read::inventory(conn, &query)).await
    }

    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        let query = query.clone();
        self.inner.readers.read(move |conn| read::unused(conn, &query)).await
    }

    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError> {
        let page = page.clone();
        self.inner.readers.read(move |conn| read::quarantined(conn, &page)).await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError> {
        self.inner.writer.prune(before).await
    }
}
