//! The JSON bodies of the query API.
//!
//! These mirror `notify_core::query`'s answers field by field. They exist so that the HTTP
//! contract is written down in one place, carries its OpenAPI schema (`ToSchema`), and is
//! exactly what is serialised: the document cannot drift from the answers. Times are RFC 3339
//! UTC with microseconds; names and digests are strings in their registry grammar.

use notify_core::query as core;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// What a digest names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// Known only by digest (seen only in a delete).
    Unknown,
    /// A layer, config or other non-manifest content.
    Blob,
    /// An image or artifact manifest.
    Manifest,
    /// An index or manifest list.
    Index,
}

impl From<notify_core::ContentKind> for ContentKind {
    fn from(k: notify_core::ContentKind) -> Self {
        match k {
            notify_core::ContentKind::Unknown => ContentKind::Unknown,
            notify_core::ContentKind::Blob => ContentKind::Blob,
            notify_core::ContentKind::Manifest => ContentKind::Manifest,
            notify_core::ContentKind::Index => ContentKind::Index,
        }
    }
}

/// How a manifest refers to content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// The image configuration.
    Config,
    /// A layer.
    Layer,
    /// A manifest listed by an index.
    Child,
    /// The manifest an artifact is about.
    Subject,
}

impl From<notify_core::ReferenceKind> for ReferenceKind {
    fn from(k: notify_core::ReferenceKind) -> Self {
        match k {
            notify_core::ReferenceKind::Config => ReferenceKind::Config,
            notify_core::ReferenceKind::Layer => ReferenceKind::Layer,
            notify_core::ReferenceKind::Child => ReferenceKind::Child,
            notify_core::ReferenceKind::Subject => ReferenceKind::Subject,
        }
    }
}

/// Who removed something, and when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tombstone {
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: notify_core::Timestamp,
    /// The deleting event.
    pub event_id: String,
    /// Who.
    pub actor: Option<String>,
}

impl From<core::Tombstone> for Tombstone {
    fn from(t: core::Tombstone) -> Self {
        Tombstone { at: t.at, event_id: t.event_id, actor: t.actor }
    }
}

/// A repository with its headline figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepositorySummary {
    /// Registry.
    pub registry: String,
    /// Repository.
    #[schema(value_type = String, example = "library/alpine")]
    pub repository: notify_core::RepositoryName,
    /// Live tags.
    pub tag_count: u64,
    /// Counted manifest pushes.
    pub push_count: u64,
    /// Counted pulls.
    pub pull_count: u64,
    /// Last counted push.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_push: Option<notify_core::Timestamp>,
    /// Last counted pull.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_pull: Option<notify_core::Timestamp>,
    /// Set when the repository was deleted and nothing was pushed to it since.
    pub deleted: Option<Tombstone>,
}

impl From<core::RepositorySummary> for RepositorySummary {
    fn from(s: core::RepositorySummary) -> Self {
        RepositorySummary {
            registry: s.registry,
            repository: s.repository,
            tag_count: s.tag_count,
            push_count: s.push_count,
            pull_count: s.pull_count,
            last_push: s.last_push,
            last_pull: s.last_pull,
            deleted: s.deleted.map(Into::into),
        }
    }
}

/// A live tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagSummary {
    /// The tag.
    #[schema(value_type = String, example = "1.0")]
    pub tag: notify_core::Tag,
    /// What it points at.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// Kind of that content, as known.
    pub kind: ContentKind,
    /// Media type of that content, as known.
    pub media_type: Option<String>,
    /// When it was set to `digest`.
    #[schema(value_type = String, format = DateTime)]
    pub pushed_at: notify_core::Timestamp,
    /// Who set it.
    pub pushed_by: Option<String>,
    /// Counted pushes to this tag over its life.
    pub push_count: u64,
    /// Counted pulls by this tag over its life.
    pub pull_count: u64,
    /// Last counted pull by this tag.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_pulled: Option<notify_core::Timestamp>,
}

impl From<core::TagSummary> for TagSummary {
    fn from(t: core::TagSummary) -> Self {
        TagSummary {
            tag: t.tag,
            digest: t.digest,
            kind: t.kind.into(),
            media_type: t.media_type,
            pushed_at: t.pushed_at,
            pushed_by: t.pushed_by,
            push_count: t.push_count,
            pull_count: t.pull_count,
            last_pulled: t.last_pulled,
        }
    }
}

/// One change of a tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagHistoryEntry {
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub at: notify_core::Timestamp,
    /// The event that changed it.
    pub event_id: String,
    /// Who.
    pub actor: Option<String>,
    /// What the tag pointed at from then on; null: it was deleted.
    #[schema(value_type = Option<String>)]
    pub digest: Option<notify_core::Digest>,
    /// What it pointed at just before.
    #[schema(value_type = Option<String>)]
    pub previous: Option<notify_core::Digest>,
}

impl From<core::TagHistoryEntry> for TagHistoryEntry {
    fn from(h: core::TagHistoryEntry) -> Self {
        TagHistoryEntry {
            at: h.at,
            event_id: h.event_id,
            actor: h.actor,
            digest: h.digest,
            previous: h.previous,
        }
    }
}

/// A tag as it stood at an instant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PastTag {
    /// The tag.
    #[schema(value_type = String)]
    pub tag: notify_core::Tag,
    /// What it pointed at then.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// When it was set to that digest.
    #[schema(value_type = String, format = DateTime)]
    pub set_at: notify_core::Timestamp,
    /// The event that set it.
    pub event_id: String,
    /// Who set it.
    pub actor: Option<String>,
}

impl From<core::PastTag> for PastTag {
    fn from(t: core::PastTag) -> Self {
        PastTag { tag: t.tag, digest: t.digest, set_at: t.set_at, event_id: t.event_id, actor: t.actor }
    }
}

/// Where a digest lives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DigestLocation {
    /// Registry.
    pub registry: String,
    /// Repository.
    #[schema(value_type = String)]
    pub repository: notify_core::RepositoryName,
    /// Whether the repository holds it now.
    pub live: bool,
    /// First push, mount or pull seen there.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_seen: Option<notify_core::Timestamp>,
    /// The delete that removed it, when not live.
    pub deleted: Option<Tombstone>,
    /// Live tags there pointing at it.
    #[schema(value_type = Vec<String>)]
    pub tags: Vec<notify_core::Tag>,
    /// Counted pulls of it there.
    pub pull_count: u64,
    /// Last counted pull there.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_pulled: Option<notify_core::Timestamp>,
}

impl From<core::DigestLocation> for DigestLocation {
    fn from(l: core::DigestLocation) -> Self {
        DigestLocation {
            registry: l.registry,
            repository: l.repository,
            live: l.live,
            first_seen: l.first_seen,
            deleted: l.deleted.map(Into::into),
            tags: l.tags,
            pull_count: l.pull_count,
            last_pulled: l.last_pulled,
        }
    }
}

/// A reference from a manifest to other content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContentReference {
    /// The referenced digest.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// How it is referenced.
    pub kind: ReferenceKind,
    /// Its media type, as the manifest declares it.
    pub media_type: Option<String>,
    /// Its size, as the manifest declares it.
    pub size: u64,
}

impl From<notify_core::command::ContentReference> for ContentReference {
    fn from(r: notify_core::command::ContentReference) -> Self {
        ContentReference { digest: r.digest, kind: r.kind.into(), media_type: r.media_type, size: r.size }
    }
}

/// A manifest that references a digest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Referrer {
    /// The referencing manifest.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// How it references.
    pub kind: ReferenceKind,
}

impl From<core::Referrer> for Referrer {
    fn from(r: core::Referrer) -> Self {
        Referrer { digest: r.digest, kind: r.kind.into() }
    }
}

/// Everything known about one digest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DigestInfo {
    /// The digest.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// What it is.
    pub kind: ContentKind,
    /// Media type.
    pub media_type: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Artifact type.
    pub artifact_type: Option<String>,
    /// First seen anywhere.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_seen: Option<notify_core::Timestamp>,
    /// Repositories that hold or held it, by registry then name: the first 100.
    pub repositories: Vec<DigestLocation>,
    /// When there are more, pass as `cursor` to `/api/v1/digests/{digest}/repositories`;
    /// null when that was all.
    pub repositories_next: Option<String>,
    /// What it references.
    pub references: Vec<ContentReference>,
    /// The manifests that reference it, by digest then kind: the first 100.
    pub referenced_by: Vec<Referrer>,
    /// When there are more, pass as `cursor` to `/api/v1/digests/{digest}/referrers`; null
    /// when that was all.
    pub referenced_by_next: Option<String>,
}

impl From<core::DigestInfo> for DigestInfo {
    fn from(d: core::DigestInfo) -> Self {
        DigestInfo {
            digest: d.digest,
            kind: d.kind.into(),
            media_type: d.media_type,
            size: d.size,
            artifact_type: d.artifact_type,
            first_seen: d.first_seen,
            repositories: d.repositories.into_iter().map(Into::into).collect(),
            repositories_next: d.repositories_next.map(|c| c.as_str().to_owned()),
            references: d.references.into_iter().map(Into::into).collect(),
            referenced_by: d.referenced_by.into_iter().map(Into::into).collect(),
            referenced_by_next: d.referenced_by_next.map(|c| c.as_str().to_owned()),
        }
    }
}

/// One event of the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogEntry {
    /// The event id.
    pub id: String,
    /// Event time.
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: notify_core::Timestamp,
    /// The action: push, pull, mount, delete, or what the registry sent.
    #[schema(value_type = String, example = "push")]
    pub action: notify_core::Action,
    /// Registry.
    pub registry: String,
    /// Repository.
    #[schema(value_type = String)]
    pub repository: notify_core::RepositoryName,
    /// Tag, when the event names one.
    #[schema(value_type = Option<String>)]
    pub tag: Option<notify_core::Tag>,
    /// Digest, when the event names one.
    #[schema(value_type = Option<String>)]
    pub digest: Option<notify_core::Digest>,
    /// Media type, when the event carries one.
    pub media_type: Option<String>,
    /// What the content is, as far as the event tells.
    pub kind: ContentKind,
    /// Authenticated user.
    pub actor: Option<String>,
    /// Client IP address.
    pub client_ip: Option<String>,
    /// HTTP method of the request.
    pub method: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Registry instance id.
    pub source_instance: Option<String>,
    /// Whether the event was counted in push/pull statistics.
    pub counted: bool,
    /// The event as the registry sent it (a JSON object).
    #[schema(value_type = Option<Object>)]
    pub raw: Option<Box<RawValue>>,
}

impl From<notify_core::LogEntry> for LogEntry {
    fn from(e: notify_core::LogEntry) -> Self {
        LogEntry {
            raw: RawValue::from_string(e.raw).ok(),
            id: e.id,
            timestamp: e.timestamp,
            action: e.action,
            registry: e.registry,
            repository: e.repository,
            tag: e.tag,
            digest: e.digest,
            media_type: e.media_type,
            kind: e.kind.into(),
            actor: e.actor,
            client_ip: e.client_ip,
            method: e.method,
            user_agent: e.user_agent,
            source_instance: e.source_instance,
            counted: e.counted,
        }
    }
}

/// Statistics of one repository.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepositoryStats {
    /// Registry.
    pub registry: String,
    /// Repository.
    #[schema(value_type = String)]
    pub repository: notify_core::RepositoryName,
    /// Live tags.
    pub tag_count: u64,
    /// Digests the repository holds now.
    pub live_digests: u64,
    /// Counted manifest pushes.
    pub push_count: u64,
    /// Counted pulls.
    pub pull_count: u64,
    /// First counted push.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_push: Option<notify_core::Timestamp>,
    /// Last counted push.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_push: Option<notify_core::Timestamp>,
    /// First counted pull.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_pull: Option<notify_core::Timestamp>,
    /// Last counted pull.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_pull: Option<notify_core::Timestamp>,
    /// Distinct named actors of counted pushes.
    pub pushers: Vec<String>,
    /// Distinct named actors of counted pulls.
    pub pullers: Vec<String>,
    /// Set when the repository was deleted and nothing was pushed to it since.
    pub deleted: Option<Tombstone>,
}

impl From<core::RepositoryStats> for RepositoryStats {
    fn from(s: core::RepositoryStats) -> Self {
        RepositoryStats {
            registry: s.registry,
            repository: s.repository,
            tag_count: s.tag_count,
            live_digests: s.live_digests,
            push_count: s.push_count,
            pull_count: s.pull_count,
            first_push: s.first_push,
            last_push: s.last_push,
            first_pull: s.first_pull,
            last_pull: s.last_pull,
            pushers: s.pushers,
            pullers: s.pullers,
            deleted: s.deleted.map(Into::into),
        }
    }
}

/// One live `registry/repository:tag@digest`, for migration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InventoryItem {
    /// Registry.
    pub registry: String,
    /// Repository.
    #[schema(value_type = String)]
    pub repository: notify_core::RepositoryName,
    /// Tag.
    #[schema(value_type = String)]
    pub tag: notify_core::Tag,
    /// Digest the tag points at.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// Media type of that content, as known.
    pub media_type: Option<String>,
}

impl From<core::InventoryItem> for InventoryItem {
    fn from(i: core::InventoryItem) -> Self {
        InventoryItem {
            registry: i.registry,
            repository: i.repository,
            tag: i.tag,
            digest: i.digest,
            media_type: i.media_type,
        }
    }
}

/// A live tag nobody has used since the instant asked about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnusedItem {
    /// Registry.
    pub registry: String,
    /// Repository.
    #[schema(value_type = String)]
    pub repository: notify_core::RepositoryName,
    /// Tag.
    #[schema(value_type = String)]
    pub tag: notify_core::Tag,
    /// Digest the tag points at.
    #[schema(value_type = String)]
    pub digest: notify_core::Digest,
    /// Media type of that content, as known.
    pub media_type: Option<String>,
    /// When the tag was set to `digest`.
    #[schema(value_type = String, format = DateTime)]
    pub pushed_at: notify_core::Timestamp,
    /// The newest counted pull of the tag, or of its digest in this repository; `null` if none.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_pulled: Option<notify_core::Timestamp>,
}

impl From<core::UnusedItem> for UnusedItem {
    fn from(u: core::UnusedItem) -> Self {
        let i = u.item;
        UnusedItem {
            registry: i.registry,
            repository: i.repository,
            tag: i.tag,
            digest: i.digest,
            media_type: i.media_type,
            pushed_at: u.pushed_at,
            last_pulled: u.last_pulled,
        }
    }
}

/// An event that could not be modelled, kept with the reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuarantineRecord {
    /// Dedup key: `id:<event id>`, else `sha256:<hash of raw>`.
    pub key: String,
    /// The registry the request came for, when known.
    pub registry: Option<String>,
    /// When this server received it.
    #[schema(value_type = String, format = DateTime)]
    pub received_at: notify_core::Timestamp,
    /// Why it was quarantined.
    pub reason: String,
    /// The event's JSON text exactly as received (a string, since it may not be an object).
    pub raw: String,
}

impl From<core::QuarantineRecord> for QuarantineRecord {
    fn from(q: core::QuarantineRecord) -> Self {
        QuarantineRecord {
            key: q.key,
            registry: q.registry,
            received_at: q.received_at,
            reason: q.reason,
            raw: q.raw,
        }
    }
}

macro_rules! page_type {
    ($name:ident, $item:ty, $what:literal) => {
        #[doc = concat!("One page of ", $what, ".")]
        #[derive(Debug, Clone, Serialize, ToSchema)]
        pub struct $name {
            /// The items, in the list's order.
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; null on the last page.
            pub next: Option<String>,
        }

        impl<T: Into<$item>> From<notify_core::Page<T>> for $name {
            fn from(p: notify_core::Page<T>) -> Self {
                $name {
                    items: p.items.into_iter().map(Into::into).collect(),
                    next: p.next.map(|c| c.as_str().to_owned()),
                }
            }
        }
    };
}

page_type!(RepositoryPage, RepositorySummary, "repositories, by registry then name");
page_type!(TagPage, TagSummary, "live tags, by name");
page_type!(TagHistoryPage, TagHistoryEntry, "a tag's changes, newest first");
page_type!(PastTagPage, PastTag, "the tags of a repository at an instant, by name");
page_type!(DigestLocationPage, DigestLocation, "the repositories of a digest, by registry then name");
page_type!(ReferrerPage, Referrer, "the manifests referencing a digest, by digest then kind");
page_type!(EventPage, LogEntry, "log entries, newest first");
page_type!(InventoryPage, InventoryItem, "live tags of every repository, by registry, repository and tag");
page_type!(UnusedPage, UnusedItem, "live tags unused since an instant, by registry, repository and tag");
page_type!(QuarantinePage, QuarantineRecord, "quarantined events, newest first");
