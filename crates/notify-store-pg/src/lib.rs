//! The PostgreSQL backend of [`notify_core::Storage`].
//!
//! ```no_run
//! # async fn run() -> Result<(), notify_store_pg::PgError> {
//! use notify_store_pg::{PgConfig, PgStore};
//! let store = PgStore::connect(&PgConfig::new("postgres://notify@db.internal/notify")).await?;
//! # Ok(()) }
//! ```
//!
//! # Schema
//!
//! Everything lives in one schema (default `notify`), created and upgraded at start-up by the
//! embedded, versioned [`migrate`] runner. Tables:
//!
//! | table | key | holds |
//! |---|---|---|
//! | `events` | `id` | the append-only log: the filter columns, the flags, the raw JSON text |
//! | `content` | `digest` | kind (an ordered enum), media type, size, artifact type, first seen |
//! | `content_references` | parent, child, kind | manifest → content edges, with media type and size |
//! | `repositories` | `id`; unique (registry, name) | last-seen stamp, delete register, counters, first/last times |
//! | `repository_actors` | repository, role, actor | distinct pushers and pullers |
//! | `links` | repository, digest | first seen, last-seen stamp, delete register, pull count, last pull |
//! | `tags` | repository, tag | the tag register (newest set or delete), push/pull counters, last pull |
//! | `tag_history` | repository, tag, stamp | every set (digest) and delete (NULL) |
//! | `quarantine` | `key` | unmodellable events verbatim |
//! | `pending` | `seq` | the commands of events logged and not yet projected (deferred projection) |
//!
//! A [`notify_core::Stamp`] is stored as a `(timestamptz, text)` column pair and compared
//! with row comparisons, `(a_at, a_event) > (b_at, b_event)`; text is `COLLATE "C"` so that
//! comparisons and orderings are byte-wise, as in the reference store. Liveness is kept on
//! write: triggers of migration 4 set `tags.live` and `links.live` whenever an input of the
//! rules changes (a register, a link's delete, a repository's delete) and keep each
//! repository's `live_tags` and `live_links` counts, so statistics read a row and tag lists
//! an index range; the views `live_tags` and `live_links` filter on the flags. The log is indexed by `(at, id)` and by each
//! selective filter followed by `(at, id)`; repository names by a `C` btree (prefix search)
//! and a pg_trgm GIN index (substring search).
//!
//! The raw event is kept as `text`, byte for byte as received, rather than `jsonb`: it comes
//! back exactly, events built in code (whose `raw` is empty) fit too, and it is smaller.
//!
//! The log is the only table that grows with traffic (about 2.7 GB per million events with
//! its indexes, two thirds of the database). It is not partitioned yet; it is laid out to be
//! range-partitioned by `at` (monthly, say) when retention or vacuum cost calls for it. A
//! partitioned table's unique keys must include the partition key, so the dedup gate then
//! moves to a narrow unpartitioned `event_ids (id PRIMARY KEY)` table that the apply
//! functions insert into first; the readers do not change.
//!
//! # Writes
//!
//! Concurrent [`Storage::apply`] calls share transactions (group commit, see the `batch`
//! module): a writer task takes whatever events are queued, up to 256, and writes them with
//! one statement, one round trip and one commit, and answers each caller once that commit is
//! durable. [`PgConfig::writers`] sets how many batches are in flight at once (default 1).
//! What the statement does depends on [`Projection`]:
//!
//! - **Deferred** (the default): `enqueue` (migration 13) logs the batch's events, from one
//!   typed array per log column, and queues the commands of those the log did not hold in
//!   `pending`, as JSON text (a batch of one goes to `enqueue_one`, which does the same for
//!   less). The `project` module's projector task then takes the oldest queued commands, up
//!   to 512 events' worth, projects them (`project_commands`) and deletes them, in one
//!   transaction; it lets them gather
//!   for [`PgConfig::gather`] when woken (or until a full batch waits), and gives way to a
//!   burst (two or more deliveries in flight) for at most [`PgConfig::max_delay`] while
//!   fewer than [`PgConfig::max_lag`] events wait; at `max_lag`, deliveries wait for room.
//!   While it works and two batches or more wait, [`PgConfig::projectors`] − 1 helpers
//!   project batches beside it, each in its own transaction and each taking first the
//!   events of its own lane, a share of the repositories, so that they seldom wait for
//!   each other's rows (migration 16). Every read first projects
//!   what was queued before it (taking rows with `SKIP LOCKED`, then waiting for those
//!   another transaction holds), so the queue never shows through the trait. Each of them
//!   takes its batches from a mark past what it took last (migration 14). An event
//!   whose commands the database refuses is moved, log row and all, to the quarantine.
//! - **Inline**: the batch goes to the server-side function `apply_batch(jsonb[])` (migration
//!   9, and 13: it logs the events, then calls `project_commands`) directly, a lone event to
//!   `apply_plan(jsonb)` (migration 2), which does less for one.
//!
//! Every write path starts with `INSERT INTO events … ON CONFLICT (id) DO NOTHING`, the
//! dedup gate: only the events it inserts are applied (or queued); the others are
//! duplicates and write nothing.
//! Two processes racing on the same event meet at the primary key: the second waits for the
//! first to commit, then inserts nothing. Every projection write is an order-independent
//! merge (counters add, registers keep the greater stamp, times keep the min or max), so
//! events may arrive in any order, and `project_commands` folds a batch's commands per row
//! before merging them, one statement per table. Locks are taken in one order by every writer:
//! event ids, content rows (only when the batch adds something), references, repository
//! rows, then what hangs off a repository (its links, tags and actors); so concurrent batches
//! queue rather than deadlock. Serialization failures and deadlocks are still retried a few
//! times before they are reported as [`StorageError::Unavailable`]; a batch the database
//! refuses is applied again event by event, so that only the offending event is refused.
//!
//! # Errors
//!
//! Setting up fails with [`PgError`]. The trait's [`StorageError`] is `Unavailable` for
//! anything that may pass (no connection, pool timeout, server shutting down or starting,
//! serialization failure, deadlock, out of resources), `Rejected` for data the database
//! refuses (SQLSTATE class 22) and `Internal` for the rest.

mod apply;
mod batch;
mod config;
mod error;
pub mod migrate;
mod project;
mod prune;
mod read;
mod settings;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use notify_core::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag, QuarantineQuery,
    QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary, TagHistoryEntry,
    TagSummary, UnusedItem, UnusedQuery,
};
use notify_core::{
    ApplyOutcome, Digest, LogEntry, PageRequest, Plan, RepoRef, Storage, StorageError, Tag, Timestamp,
};

pub use config::{DEFAULT_SCHEMA, PgConfig, Projection};
pub use error::PgError;
pub use settings::{Advice, ServerSettings};

/// SQL text with the schema spliced in, built once per store.
#[derive(Debug)]
struct Sql {
    /// The quoted schema name.
    schema: String,
    /// One event: `apply_plan` (migration 2), cheaper for one than the batch function.
    apply_one: String,
    /// A batch: `apply_batch` (migration 9), the plans sent as text and parsed each alone.
    apply: String,
    /// Deferred projection (migrations 8 and 13): log a batch, queue its commands, project
    /// from the queue.
    enqueue: String,
    /// The same for one event, cheaper for one than `enqueue`.
    enqueue_one: String,
    project: String,
    project_one: String,
    pending_last: String,
    pending_count: String,
    vacuum_queue: String,
    pending_wait: String,
    pending_oldest: String,
    pending_quarantine: String,
    quarantine: String,
    stats: String,
    digest_content: String,
    digest_links: String,
    digest_refs: String,
    digest_referrers: String,
}

impl Sql {
    fn new(schema: &str) -> Self {
        let s = migrate::quote_ident(schema);
        let q = |text: &str| text.replace("{s}", &s);
        Sql {
            apply_one: q("SELECT {s}.apply_plan($1)"),
            apply: q("SELECT {s}.apply_batch($1::text[]::jsonb[])"),
            enqueue: q(
                "SELECT {s}.enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            ),
            enqueue_one: q(
                "SELECT {s}.enqueue_one($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            ),
            project: q("SELECT taken, last FROM {s}.project_lane($1, $2, $3, $4, $5)"),
            project_one: q("SELECT {s}.project_one($1)"),
            pending_last: q("SELECT max(seq) FROM {s}.pending"),
            pending_count: q("SELECT count(*) FROM {s}.pending"),
            vacuum_queue: q("VACUUM (SKIP_LOCKED) {s}.pending"),
            // FOR UPDATE waits for the rows a projection holds; the rows it deleted are
            // then skipped, so what is counted is what is still queued.
            pending_wait: q(
                "SELECT count(*) FROM (SELECT 1 FROM {s}.pending WHERE seq <= $1 FOR UPDATE) AS q",
            ),
            pending_oldest: q("SELECT seq, id FROM {s}.pending WHERE seq <= $1 ORDER BY seq LIMIT $2"),
            // The event leaves the log with its commands: a refused event is quarantined,
            // not logged, as inline. A log row already pruned leaves the commands to show.
            pending_quarantine: q(
                "WITH gone AS (DELETE FROM {s}.pending WHERE seq = $1 RETURNING id, commands), \
                 logged AS (DELETE FROM {s}.events e USING gone g WHERE e.id = g.id \
                            RETURNING e.id, e.registry, e.raw) \
                 INSERT INTO {s}.quarantine (key, registry, received_at, reason, raw) \
                 SELECT 'id:' || g.id, l.registry, now(), $2, coalesce(l.raw, g.commands) \
                 FROM gone g LEFT JOIN logged l ON l.id = g.id ON CONFLICT (key) DO NOTHING",
            ),
            quarantine: q("INSERT INTO {s}.quarantine (key, registry, received_at, reason, raw) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING"),
            stats: q("SELECT r.registry, r.name, \
                        r.live_tags, r.live_links, \
                        r.push_count, r.pull_count, r.first_push, r.last_push, r.first_pull, r.last_pull, \
                        ARRAY(SELECT a.actor FROM {s}.repository_actors a \
                              WHERE a.repo_id = r.id AND a.role = 'push' ORDER BY a.actor), \
                        ARRAY(SELECT a.actor FROM {s}.repository_actors a \
                              WHERE a.repo_id = r.id AND a.role = 'pull' ORDER BY a.actor), \
                        r.seen_at, r.seen_event, r.deleted_at, r.deleted_event, r.deleted_by \
                 FROM {s}.repositories r WHERE r.registry = $1 AND r.name = $2"),
            digest_content: q(
                "SELECT kind::text, media_type, size, artifact_type, first_seen FROM {s}.content WHERE digest = $1",
            ),
            // Keyset pages: `(registry, name)` and `(parent, kind)` after the cursor's; the
            // first page passes empty strings, which sort before every name and digest.
            digest_links: q("SELECT l.registry, l.name, l.first_seen, l.seen_at, l.seen_event, \
                        l.deleted_at, l.deleted_event, l.deleted_by, \
                        r.deleted_at, r.deleted_event, r.deleted_by, l.pull_count, l.last_pulled, \
                        ARRAY(SELECT t.tag FROM {s}.live_tags t \
                              WHERE t.repo_id = l.repo_id AND t.digest = l.digest ORDER BY t.tag) \
                 FROM {s}.links l JOIN {s}.repositories r ON r.id = l.repo_id \
                 WHERE hashtextextended(l.digest, 0) = hashtextextended($1, 0) AND l.digest = $1 \
                   AND (l.registry, l.name) > ($2::text COLLATE \"C\", $3::text COLLATE \"C\") \
                 ORDER BY l.registry, l.name LIMIT $4"),
            // Enum order is declaration order, the order of `ReferenceKind`. `c.kind`, not
            // `kind`: a bare name in ORDER BY is the output column, the kind's text, which
            // sorts in another order.
            digest_refs: q(
                "SELECT c.child, c.kind::text, c.media_type, c.size FROM {s}.content_references c \
                 WHERE c.parent = $1 ORDER BY c.child, c.kind",
            ),
            digest_referrers: q("SELECT c.parent, c.kind::text FROM {s}.content_references c \
                 WHERE hashtextextended(c.child, 0) = hashtextextended($1, 0) AND c.child = $1 \
                   AND (c.parent, c.kind) > ($2::text COLLATE \"C\", $3::text::{s}.reference_kind) \
                 ORDER BY c.parent, c.kind LIMIT $4"),
            schema: s,
        }
    }
}

/// The PostgreSQL store: a connection pool and the schema it works in.
///
/// Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    schema: String,
    sql: std::sync::Arc<Sql>,
    batcher: std::sync::Arc<batch::Batcher>,
    projection: Projection,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("schema", &self.schema).field("pool", &self.pool.status()).finish()
    }
}

impl PgStore {
    /// Connects, migrates the schema to the latest version and returns the store.
    pub async fn connect(config: &PgConfig) -> Result<Self, PgError> {
        let store = Self::connect_without_migrating(config)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Builds the pool without touching the database (connections open on first use), for
    /// tools that migrate separately or not at all.
    pub fn connect_without_migrating(config: &PgConfig) -> Result<Self, PgError> {
        let (pg, tls) = config.parse()?;
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = if tls {
            Manager::from_config(pg, config.tls_connector()?, manager_config)
        } else {
            Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(PgError::Pool)?;
        let sql = std::sync::Arc::new(Sql::new(&config.schema));
        let batcher = std::sync::Arc::new(batch::Batcher::new(
            pool.clone(),
            sql.clone(),
            config.writers,
            project::Pace {
                max_lag: config.max_lag,
                max_delay: config.max_delay,
                gather: config.gather,
                projectors: config.projectors.max(1),
            },
        ));
        Ok(PgStore { pool, schema: config.schema.clone(), sql, batcher, projection: config.projection })
    }

    /// Applies every pending migration; returns the versions applied now (empty when the
    /// schema was current). Safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<Vec<i32>, PgError> {
        self.migrate_to(migrate::latest_version()).await
    }

    /// Applies the pending migrations up to `version` only.
    pub async fn migrate_to(&self, version: i32) -> Result<Vec<i32>, PgError> {
        let mut client = self.pool.get().await.map_err(PgError::Connect)?;
        migrate::run(&mut client, &self.schema, Some(version)).await
    }

    /// The schema's migration version, `None` before the first migration.
    pub async fn schema_version(&self) -> Result<Option<i32>, PgError> {
        let client = self.pool.get().await.map_err(PgError::Connect)?;
        migrate::current_version(&**client, &self.schema).await
    }

    /// The server settings that decide how the store holds up as its tables grow; see
    /// [`ServerSettings::advice`] for what to change.
    pub async fn server_settings(&self) -> Result<ServerSettings, PgError> {
        let client = self.pool.get().await.map_err(PgError::Connect)?;
        settings::read(&client).await.map_err(PgError::db("reading the server's settings"))
    }

    /// The schema this store works in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The connection pool, for maintenance and tests.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[async_trait]
impl Storage for PgStore {
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        self.apply_plan(plan).await
    }

    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        self.quarantine_record(record).await
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.ping_db().await
    }

    async fn backlog(&self) -> Result<u64, StorageError> {
        self.queued().await
    }

    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError> {
        self.list_repositories(query).await
    }

    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError> {
        self.list_tags(repo, page).await
    }

    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        self.list_tags_at(repo, instant, page).await
    }

    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        self.list_tag_history(repo, tag, page).await
    }

    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        self.digest_info(digest).await
    }

    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        self.digest_locations(digest, page).await
    }

    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        self.digest_referrer_page(digest, page).await
    }

    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        self.list_events(query).await
    }

    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        self.stats(repo).await
    }

    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
        self.list_inventory(query).await
    }

    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        self.list_unused(query).await
    }

    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError> {
        self.list_quarantine(page).await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError> {
        self.prune(before).await
    }
}
