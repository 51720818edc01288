//! The MongoDB backend of [`notify_core::Storage`], on the official `mongodb` driver.
//!
//! ```no_run
//! # async fn run() -> Result<(), notify_store_mongo::MongoError> {
//! use notify_store_mongo::{MongoConfig, MongoStore};
//! let config = MongoConfig::new("mongodb://db1.internal,db2.internal/?replicaSet=rs0").with_database("notify");
//! let store = MongoStore::connect(&config).await?;
//! # Ok(()) }
//! ```
//!
//! # Collections
//!
//! Seven collections in one database, each name prefixed by
//! [`MongoConfig::collection_prefix`]. Times are stored as `i64` unix **microseconds** (the
//! core's [`notify_core::Timestamp`]; BSON dates only hold milliseconds), with a BSON date
//! beside the event and quarantine times for people reading the data. A stamp (event time,
//! event id) is the embedded document `{t, e}`: BSON compares embedded documents field by field,
//! so `$max` of a stamp register keeps the last writer.
//!
//! | collection | one document per | holds | indexes |
//! |---|---|---|---|
//! | `events` | event (`_id` = event id) | the log entry, the raw JSON text, `applied` | `(at, _id)` desc; each filter (registry, registry+repository, tag, digest, action, actor, client IP) then `(at, _id)`; pending entries (partial) |
//! | `content` | digest (`_id`) | `kind_key` (kind and media type, merged by `$max`), size, artifact type, first seen, `refs` (one slot `{d, k, m, s}` per referenced digest and kind, merged by `$max`) and `ref_digests` | `ref_digests` |
//! | `repositories` | registry + repository (unique) | last seen stamp, delete register, push/pull counters, first/last times, pushers, pullers | unique `(registry, repository)`; `(repository, registry)` |
//! | `links` | registry + repository + digest (unique) | first seen, last seen stamp, delete register, pull counter, last pull | unique key; `(digest, registry, repository)` |
//! | `tags` | registry + repository + tag (unique) | the tag register `head {t, e, d, a}` (`d` null: deleted), push/pull counters, last pull | unique key; `(registry, repository, head.d)` |
//! | `tag_history` | tag change (unique by tag and stamp) | the digest it pointed at from then on (null: deleted), actor | unique `(registry, repository, tag, t, e)` |
//! | `quarantine` | dedup key (`_id`) | registry, received time, reason, raw text | `(received_at, _id)` desc |
//!
//! Every index is created at start-up with `createIndexes`, which does nothing for an index
//! that exists with the same specification. Liveness (is a tag or link current, which delete
//! hides it) is computed when reading from the registers, with the reference store's rules,
//! never stored: it would otherwise depend on delivery order. Lists read index ranges in list
//! order from the cursor's key on; lists of live tags filter a few batches of candidates.
//! Repository names are lowercase by grammar, so a name is its own normalised form: a prefix
//! search is an index range `[prefix, successor)`, a substring search a regular expression of
//! the escaped text.
//!
//! # Writes
//!
//! Every projection write is an upsert whose update is an order-independent merge: `$max` of
//! stamp registers, last times and reference slots, `$min` of first times, `$inc` of counters,
//! `$addToSet` of actors and referenced digests, `$set` of a tag history entry keyed by its
//! stamp. The insert of the log entry, whose `_id` is the event id, is the dedup gate.
//!
//! **With transactions** (a replica set or sharded cluster, detected from the `hello` reply;
//! see [`TransactionMode`]): one multi-document transaction inserts the entry and runs every
//! write; a duplicate key on the entry aborts it and the event is a duplicate. Transactions
//! failing with `TransientTransactionError` (write conflicts between concurrent events on the
//! same documents) are retried; a commit with an unknown result is retried as a commit.
//!
//! **Without transactions** (a standalone server), no step can be atomic with another, so each
//! step is made safe to repeat:
//! 1. The entry is inserted with `applied: false`, the plan's commands (as JSON) and a lease
//!    `{owner, until}` naming the writer. A duplicate key means another delivery got there
//!    first: see 4.
//! 2. Each projection write runs in order. Merges (`$max`, `$min`, `$addToSet`, keyed `$set`)
//!    are idempotent and simply run. A write with `$inc` is *guarded*: its filter requires that
//!    the document's `ev` array does not hold the event id and its update adds the id, in the
//!    same single-document atomic update, so after a crash a re-run skips exactly the counters
//!    already taken. (If the guarded upsert meets a duplicate key, either another writer just
//!    created the document or it already holds the marker; the write is repeated without
//!    upsert, which then applies or matches nothing.) Before each write the writer renews its
//!    lease when half of it has passed, and stops if it no longer owns the entry.
//! 3. The entry is marked `applied: true` (only by its owner), its commands and lease are
//!    dropped, and the markers are removed from the documents again. A crash before the removal
//!    leaves markers that cannot matter (the event is applied, so nobody re-runs it);
//!    [`MongoStore::recover`] removes them.
//! 4. A delivery that finds the entry already there answers `Duplicate` if it is applied.
//!    If it is pending and its lease is current, another writer is at work: it waits (up to five
//!    seconds, then reports the store unavailable so that the registry retries). If the lease
//!    has expired (a crashed writer) or was released (a writer that failed), it takes the lease
//!    over with a conditional update and finishes the *stored* commands from step 2, then
//!    answers `Applied`.
//!
//! Only one writer works on an event at a time, and markers are removed only after the entry is
//! applied, so no counter is taken twice, whatever crashes or redeliveries happen, as long as a
//! writer that lost its lease (paused for longer than half of [`MongoConfig::apply_lease`])
//! does not resume writing: each writer checks its lease before every write, and the lease is
//! renewed long before it expires, so this needs writers' clocks to agree to within half of the
//! lease. Readers do not list pending entries in the event log; the projection can show a
//! pending event's effects for the moment it is being applied.
//!
//! # Errors
//!
//! Setting up fails with [`MongoError`]. The trait's [`StorageError`] is `Unavailable` for
//! whatever may pass later (see the `error` module), `Rejected` for data MongoDB refuses for
//! good and `Internal` for the rest.

mod apply;
pub mod builders;
mod config;
mod decode;
mod error;
mod liveness;
mod prune;
mod read;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Collection, Database};
use notify_core::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag, QuarantineQuery,
    QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary, TagHistoryEntry,
    TagSummary, UnusedItem, UnusedQuery,
};
use notify_core::{
    ApplyOutcome, Digest, LogEntry, PageRequest, Plan, RepoRef, Storage, StorageError, Tag, Timestamp,
};

pub use apply::RecoveryReport;
pub use config::{Acknowledgement, DEFAULT_DATABASE, MongoConfig, TransactionMode, WriteConcernSetting};
pub use error::MongoError;

use builders::Coll;
use error::storage_error;

/// A [`Storage`] on a MongoDB database. Cheap to share: clone the `Arc` it is usually held in;
/// the driver's client inside is a connection pool.
#[derive(Debug)]
pub struct MongoStore {
    client: Client,
    database: Database,
    collections: Vec<Collection<Document>>,
    transactions: bool,
    write_concern: WriteConcern,
    lease: Duration,
    writer: String,
    owners: AtomicU64,
    #[cfg(feature = "fault-injection")]
    faults: apply::Faults,
}

fn write_concern(setting: &WriteConcernSetting) -> WriteConcern {
    let w = match setting.w {
        Acknowledgement::Majority => Acknowledgment::Majority,
        Acknowledgement::Nodes(n) => Acknowledgment::Nodes(n),
    };
    let mut wc = WriteConcern::default();
    wc.w = Some(w);
    wc.journal = Some(setting.journal);
    wc.w_timeout = setting.timeout;
    wc
}

impl MongoStore {
    /// Connects with `config`: parses the URL, decides about transactions, creates the
    /// collections' indexes and, if configured, recovers pending events.
    pub async fn connect(config: &MongoConfig) -> Result<Self, MongoError> {
        let mut options =
            ClientOptions::parse(&config.url).await.map_err(|e| MongoError::Config(e.to_string()))?;
        options.write_concern = Some(write_concern(&config.write_concern));
        if let Some(n) = config.max_pool_size {
            options.max_pool_size = Some(n);
        }
        if let Some(t) = config.server_selection_timeout {
            options.server_selection_timeout = Some(t);
        }
        if options.app_name.is_none() {
            options.app_name = Some("registry-notify".to_owned());
        }
        let client = Client::with_options(options).map_err(|e| MongoError::Config(e.to_string()))?;
        Self::with_client(client, config).await
    }

    /// Uses an existing client (its own options stand; `config.url`, pool size and selection
    /// timeout are ignored, the write concern of `config` is used for every write).
    pub async fn with_client(client: Client, config: &MongoConfig) -> Result<Self, MongoError> {
        if config.database.is_empty() {
            return Err(MongoError::Config("the database name is empty".into()));
        }
        let database = client.database(&config.database);
        let names = builders::CollectionNames::new(&config.collection_prefix);
        let collections =
            Coll::ALL.iter().map(|c| database.collection::<Document>(&names.name(*c))).collect();
        let hello = client
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(MongoError::driver("hello"))?;
        let supported = hello.get_str("setName").is_ok() || hello.get_str("msg") == Ok("isdbgrid");
        let transactions = match config.transactions {
            TransactionMode::Auto => supported,
            TransactionMode::Always if !supported => return Err(MongoError::TransactionsUnsupported),
            TransactionMode::Always => true,
            TransactionMode::Never => false,
        };
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let store = MongoStore {
            client,
            database,
            collections,
            transactions,
            write_concern: write_concern(&config.write_concern),
            lease: config.apply_lease.max(Duration::from_millis(10)),
            writer: format!("{}-{}", std::process::id(), started.as_nanos()),
            owners: AtomicU64::new(0),
            #[cfg(feature = "fault-injection")]
            faults: apply::Faults::default(),
        };
        for coll in Coll::ALL {
            let command = builders::create_indexes_command(store.collection(coll).name(), coll);
            store.database.run_command(command).await.map_err(MongoError::driver("createIndexes"))?;
            for index in builders::superseded_indexes(coll) {
                let command = doc! { "dropIndexes": store.collection(coll).name(), "index": *index };
                match store.database.run_command(command).await {
                    Ok(_) => {}
                    // IndexNotFound: a database this version created, or already dropped.
                    Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 27) => {
                    }
                    Err(e) => return Err(MongoError::driver("dropIndexes")(e)),
                }
            }
        }
        if config.recover_on_connect {
            store.recover().await.map_err(MongoError::Recovery)?;
        }
        Ok(store)
    }

    /// Whether events are applied in transactions.
    pub fn uses_transactions(&self) -> bool {
        self.transactions
    }

    /// The database holding the collections.
    pub fn database(&self) -> &Database {
        &self.database
    }

    fn collection(&self, coll: Coll) -> &Collection<Document> {
        &self.collections[coll as usize]
    }

    /// A name for one writer's ownership of one pending event, unique across processes.
    fn new_owner(&self) -> String {
        format!("{}-{}", self.writer, self.owners.fetch_add(1, Ordering::Relaxed))
    }
}

/// Unix milliseconds now, for leases.
fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Storage for MongoStore {
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        self.apply_plan(plan).await
    }

    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        match self.collection(Coll::Quarantine).insert_one(builders::quarantine_record(record)).await {
            Ok(_) => Ok(ApplyOutcome::Applied),
            Err(e) if error::is_duplicate_key(&e) => Ok(ApplyOutcome::Duplicate),
            Err(e) => Err(storage_error("quarantine insert", e)),
        }
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.database.run_command(doc! { "ping": 1 }).await.map(|_| ()).map_err(|e| storage_error("ping", e))
    }

    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError> {
        self.read_repositories(query).await
    }

    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError> {
        self.read_tags(repo, page).await
    }

    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        self.read_tags_at(repo, instant, page).await
    }

    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        self.read_tag_history(repo, tag, page).await
    }

    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        self.read_digest(digest).await
    }

    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        self.read_digest_locations(digest, page).await
    }

    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        self.read_digest_referrers(digest, page).await
    }

    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        self.read_events(query).await
    }

    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        self.read_repository_stats(repo).await
    }

    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
        self.read_inventory(query).await
    }

    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        self.read_unused(query).await
    }

    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError> {
        self.read_quarantine(page).await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError> {
        self.prune(before).await
    }
}
