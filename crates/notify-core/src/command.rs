//! The vocabulary between translation and storage.
//!
//! A [`Plan`] is everything one event means to a store: its log entry (the dedup gate) and the
//! projection [`Command`]s. Every command is written so that applying a set of plans gives the
//! same state in any order: tags, links and tombstones are last-writer-wins registers ordered by
//! [`Stamp`] (event time, then event id), counters only add, first/last times are min/max. That
//! is what lets redelivered, reordered or replayed events, and several server replicas, agree.

use serde::{Deserialize, Serialize};

use crate::{Action, ContentKind, Digest, ReferenceKind, RepositoryName, Tag, Timestamp};

/// The total order of events for last-writer-wins: time first, then event id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// The event's timestamp.
    pub at: Timestamp,
    /// The event's id, breaking ties between events of the same microsecond.
    pub event_id: String,
}

/// A repository within a registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RepoRef {
    /// Canonical registry name (see [`crate::Policy::registry_name`]).
    pub registry: String,
    /// Repository name.
    pub repository: RepositoryName,
}

/// One event as the append-only log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The event id: the log's key and the dedup gate.
    pub id: String,
    /// Event time.
    pub timestamp: Timestamp,
    /// The action, unknown ones included.
    pub action: Action,
    /// Canonical registry name.
    pub registry: String,
    /// Repository.
    pub repository: RepositoryName,
    /// Tag, when the event names one.
    pub tag: Option<Tag>,
    /// Digest, when the event names one.
    pub digest: Option<Digest>,
    /// Media type, when the event carries one.
    pub media_type: Option<String>,
    /// What the content is, as far as the event tells.
    pub kind: ContentKind,
    /// Authenticated user name.
    pub actor: Option<String>,
    /// Client IP address (without port).
    pub client_ip: Option<String>,
    /// HTTP method of the request.
    pub method: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Registry instance id.
    pub source_instance: Option<String>,
    /// Whether the event was counted in push/pull statistics (see [`crate::Policy`]).
    pub counted: bool,
    /// The event's JSON as received.
    pub raw: String,
}

impl LogEntry {
    /// The entry's place in last-writer-wins order.
    pub fn stamp(&self) -> Stamp {
        Stamp { at: self.timestamp, event_id: self.id.clone() }
    }
}

/// Everything one event means to a store, applied atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The log entry; if its id is already logged the whole plan is a duplicate and changes
    /// nothing.
    pub entry: LogEntry,
    /// Projection updates, applied only when the entry is new.
    pub commands: Vec<Command>,
}

/// A reference from a manifest to other content.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContentReference {
    /// The referenced digest.
    pub digest: Digest,
    /// How it is referenced.
    pub kind: ReferenceKind,
    /// Its media type, as the manifest declares it.
    pub media_type: Option<String>,
    /// Its size, as the manifest declares it.
    pub size: u64,
}

/// What an event tells about content, which is global by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The digest.
    pub digest: Digest,
    /// Manifest, index or blob. Merge: the greatest known ([`ContentKind`] order).
    pub kind: ContentKind,
    /// Media type. Merge: the one that came with the greatest kind; among equals the greatest.
    pub media_type: Option<String>,
    /// Size in bytes. Merge: the greatest.
    pub size: Option<u64>,
    /// The artifact type. Merge: the greatest.
    pub artifact_type: Option<String>,
    /// What a manifest references. Merge: union keyed by (digest, kind); the declared media type
    /// and size of one reference merge to the greatest.
    pub references: Vec<ContentReference>,
    /// When the event happened. Merge: the earliest is `first_seen`.
    pub seen: Timestamp,
}

/// How an event shows that a repository holds a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum LinkVia {
    /// Uploaded or put.
    Push,
    /// Linked from another repository.
    Mount {
        /// The repository it was mounted from, when the registry says.
        from: Option<RepositoryName>,
    },
    /// Fetched: it was there at that moment.
    Pull,
}

/// Commands of a plan. See the module docs for the merge rules that make order irrelevant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Merge what the event tells about content.
    UpsertContent(Content),
    /// The repository held the digest at `stamp`: the link is live unless a delete with a
    /// greater stamp exists. Keeps the earliest time seen and the latest observation.
    LinkRepository {
        /// Where.
        repo: RepoRef,
        /// What.
        digest: Digest,
        /// When (last-writer-wins against deletes).
        stamp: Stamp,
        /// Who.
        actor: Option<String>,
        /// How.
        #[serde(flatten)]
        via: LinkVia,
    },
    /// The tag points at `digest` from `stamp` on: a tag history entry, and the current value
    /// if `stamp` is the tag's greatest.
    SetTag {
        /// Where.
        repo: RepoRef,
        /// Which tag.
        tag: Tag,
        /// What it now points at.
        digest: Digest,
        /// When.
        stamp: Stamp,
        /// Who pushed.
        actor: Option<String>,
    },
    /// The tag was removed at `stamp`: a history entry, and a tombstone if `stamp` is the tag's
    /// greatest.
    DeleteTag {
        /// Where.
        repo: RepoRef,
        /// Which tag.
        tag: Tag,
        /// When.
        stamp: Stamp,
        /// Who deleted.
        actor: Option<String>,
    },
    /// The repository's link to the digest was deleted at `stamp` (a tombstone; history stays).
    /// `kind` is what the event itself tells: registries send no media type on deletes, so it
    /// is usually [`ContentKind::Unknown`] and readers resolve manifest vs blob from the
    /// content record.
    DeleteContent {
        /// Where.
        repo: RepoRef,
        /// What.
        digest: Digest,
        /// What the event says the digest is.
        kind: ContentKind,
        /// When.
        stamp: Stamp,
        /// Who deleted.
        actor: Option<String>,
    },
    /// The whole repository was deleted at `stamp`: every tag and link observed before it is
    /// gone; their history stays.
    DeleteRepository {
        /// Which.
        repo: RepoRef,
        /// When.
        stamp: Stamp,
        /// Who deleted.
        actor: Option<String>,
    },
    /// A counted push of a manifest: repository and tag counters.
    CountPush(Count),
    /// A counted pull: repository, tag and repository-digest counters.
    CountPull(Count),
}

/// A counter increment with its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// Where.
    pub repo: RepoRef,
    /// The tag, when the request named one.
    pub tag: Option<Tag>,
    /// The digest.
    pub digest: Option<Digest>,
    /// Who (kept as a distinct-actor set).
    pub actor: Option<String>,
    /// When (first/last times are min/max).
    pub at: Timestamp,
}
