//! The `Storage` trait every backend implements, and its one error type.

use async_trait::async_trait;

use crate::command::{Plan, RepoRef};
use crate::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag, QuarantineQuery,
    QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary, TagHistoryEntry,
    TagSummary, UnusedItem, UnusedQuery,
};
use crate::{Digest, LogEntry, PageRequest, Tag, Timestamp};

/// What applying a plan (or quarantining a record) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Stored now.
    Applied,
    /// Already stored: nothing changed.
    Duplicate,
}

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Everything a store can fail with. [`StorageError::is_transient`] tells the server whether
/// to answer 5xx (the registry retries) or to quarantine.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store cannot be reached or is overloaded now (connection refused, timeouts,
    /// serialization failures, deadlocks): retry later; nothing was written.
    #[error("storage unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<Source>,
    },
    /// The store refused this data for good (a value out of its range, say); retrying the same
    /// data fails again, so the event is quarantined.
    #[error("storage rejected the data: {message}")]
    Rejected {
        /// Why.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<Source>,
    },
    /// A cursor that no list of this store produced.
    #[error("invalid cursor {0:?}")]
    InvalidCursor(String),
    /// A query the store cannot answer as asked.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The store's own state or schema is not what this version expects.
    #[error("storage error: {message}")]
    Internal {
        /// What happened.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<Source>,
    },
}

impl StorageError {
    /// The message followed by its causes, `: `-separated: what logs and quarantine reasons
    /// show.
    ///
    /// ```
    /// use notify_core::StorageError;
    /// let e = StorageError::unavailable("no connection", std::io::Error::other("refused"));
    /// assert_eq!(e.chain(), "storage unavailable: no connection: refused");
    /// ```
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable { .. })
    }

    /// A transient failure with its cause.
    pub fn unavailable(message: impl Into<String>, source: impl Into<Source>) -> Self {
        StorageError::Unavailable { message: message.into(), source: Some(source.into()) }
    }

    /// A permanent refusal of the data, with its cause.
    pub fn rejected(message: impl Into<String>, source: impl Into<Source>) -> Self {
        StorageError::Rejected { message: message.into(), source: Some(source.into()) }
    }

    /// A fault of the store itself, with its cause.
    pub fn internal(message: impl Into<String>, source: impl Into<Source>) -> Self {
        StorageError::Internal { message: message.into(), source: Some(source.into()) }
    }

    /// The same error once more, for each caller of a batch that failed as a whole. Not
    /// `Clone`, because driver errors are not: the copy keeps the source's message only.
    ///
    /// ```
    /// use notify_core::StorageError;
    /// let e = StorageError::unavailable("no connection", "refused");
    /// let copy = e.copied();
    /// assert!(copy.is_transient());
    /// assert_eq!(copy.to_string(), e.to_string());
    /// assert_eq!(std::error::Error::source(&copy).unwrap().to_string(), "refused");
    /// ```
    pub fn copied(&self) -> StorageError {
        let source = |s: &Option<Source>| s.as_ref().map(|s| -> Source { s.to_string().into() });
        match self {
            StorageError::Unavailable { message, source: s } => {
                StorageError::Unavailable { message: message.clone(), source: source(s) }
            }
            StorageError::Rejected { message, source: s } => {
                StorageError::Rejected { message: message.clone(), source: source(s) }
            }
            StorageError::Internal { message, source: s } => {
                StorageError::Internal { message: message.clone(), source: source(s) }
            }
            StorageError::InvalidCursor(c) => StorageError::InvalidCursor(c.clone()),
            StorageError::InvalidQuery(q) => StorageError::InvalidQuery(q.clone()),
        }
    }
}

/// A store of registry events and of the projection they build.
///
/// Writes: [`Storage::apply`] stores one event's [`Plan`] atomically: the log entry and every
/// command, or nothing. The log entry's id is the dedup gate: a second apply of the same id
/// returns [`ApplyOutcome::Duplicate`] and changes nothing, even when two processes race.
/// Applying a set of plans in any order yields the same answers (see [`crate::command`]).
///
/// Reads: every answer is defined by [`crate::MemoryStore`], the reference implementation, and
/// pinned by the conformance suite in `notify_core::testkit`.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Stores one event's plan atomically and idempotently.
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError>;

    /// Keeps an event that cannot be modelled, deduplicated by its key.
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError>;

    /// Succeeds when the store can take writes now.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Events acknowledged and not yet projected, for a store that projects behind its
    /// acknowledgements; 0 for one that projects before (the default). Reads never show
    /// the backlog: each waits for what was acknowledged before it. Operators watch it.
    async fn backlog(&self) -> Result<u64, StorageError> {
        Ok(0)
    }

    /// Repositories, with search.
    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError>;

    /// The live tags of a repository.
    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError>;

    /// Every change of one tag, newest first.
    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError>;

    /// The tags of a repository as they stood at `instant`, by tag name: of every tag, the
    /// change of its history in force then (as [`TagHistoryEntry::page_at`] reads it), when
    /// it pointed at something. The tags' histories are the whole answer: a manifest deleted
    /// by digest, or the repository deleted, without a delete of each tag, is no change of a
    /// tag's history (registries since 2.7 send those deletes).
    ///
    /// [`TagHistoryEntry::page_at`]: crate::query::TagHistoryEntry::page_at
    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError>;

    /// Everything known about a digest, with the first [`DIGEST_PAGE_SIZE`] of its
    /// repositories and of its referrers; `None` if no event named it as its target (a digest
    /// known only as a reference inside a manifest is found through that manifest).
    ///
    /// [`DIGEST_PAGE_SIZE`]: crate::query::DIGEST_PAGE_SIZE
    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError>;

    /// The repositories that hold or held a digest, ordered by registry then name, as in
    /// [`DigestInfo::repositories`]; empty for an unknown digest. Cursor key:
    /// `[registry, repository]`.
    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError>;

    /// The manifests that reference a digest, ordered by digest then kind, as in
    /// [`DigestInfo::referenced_by`]; empty when none does. Cursor key: `[digest, kind]`.
    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError>;

    /// The event log, filtered, newest first. `raw` is returned as JSON equal to what was
    /// received (a store may normalise whitespace and key order).
    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError>;

    /// Statistics of a repository; `None` if no event ever named it.
    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError>;

    /// Every live tag, for migration.
    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError>;

    /// The live tags unused since an instant, with when each was set and last pulled; see
    /// [`UnusedQuery`] for what counts as a use.
    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError>;

    /// Quarantined events, newest first.
    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError>;

    /// Removes the event log's entries whose event is stamped before `before`, and returns
    /// how many it removed. Only the log shrinks: every other answer stays as it was, since
    /// the projection keeps what those events taught it (counts, tags, their history,
    /// content, links). A store that projects behind its acknowledgements projects what it
    /// holds first, so nothing acknowledged escapes.
    ///
    /// The log is also the dedup gate: a pruned event's id is forgotten, and the same event
    /// applied again would count again. Whoever prunes keeps events that old away from
    /// [`Storage::apply`]; the server's `log_retention` quarantines them instead.
    ///
    /// A store may remove the entries in several transactions (a large log is pruned in
    /// slices, so that writers never wait for all of it): interrupted, it has removed a part,
    /// and a second call removes the rest.
    ///
    /// ```
    /// # notify_core::testkit::block_on(async {
    /// use notify_core::testkit::builder::{EventBuilder, apply_all, test_digest, time};
    /// use notify_core::{MemoryStore, Policy, Storage};
    /// let store = MemoryStore::new();
    /// let push = |id, at| EventBuilder::push(id, time(at), "app").manifest(&test_digest(1), 400).tag("1");
    /// apply_all(&store, &[push("old", 1), push("new", 9)], &Policy::default()).await;
    /// assert_eq!(store.prune_events(time(5)).await.unwrap(), 1);
    /// assert_eq!(store.prune_events(time(5)).await.unwrap(), 0);
    /// # });
    /// ```
    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError>;
}
