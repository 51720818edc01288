//! The read side: what users ask a store, and the answers, identical for every backend.

use serde::{Deserialize, Serialize};

use crate::command::ContentReference;
use crate::{
    Action, ContentKind, Digest, ReferenceKind, RepositoryName, Stamp, StorageError, Tag, Timestamp,
};

/// The default number of items per page.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest page a store returns.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// How many repositories and referrers [`DigestInfo`] holds at most; the rest are paged with
/// [`Storage::digest_repositories`](crate::Storage::digest_repositories) and
/// [`Storage::digest_referrers`](crate::Storage::digest_referrers). A shared base layer is in
/// every repository of a registry, so these lists have no natural bound.
pub const DIGEST_PAGE_SIZE: u32 = DEFAULT_PAGE_SIZE;

/// An opaque position in a list: pass a page's `next` back to get the following page. Cursors
/// hold the sort key of the last item returned, so pages stay stable while new events arrive,
/// and every backend reads every other backend's cursors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// Encodes a sort key.
    pub fn from_key(key: &[String]) -> Self {
        let json = serde_json::to_vec(key).unwrap_or_default();
        let mut s = String::with_capacity(json.len() * 2);
        for b in json {
            s.push_str(&format!("{b:02x}"));
        }
        Cursor(s)
    }

    /// Decodes the sort key; `len` is how many parts the list's key has.
    pub fn to_key(&self, len: usize) -> Result<Vec<String>, StorageError> {
        let bad = || StorageError::InvalidCursor(self.0.chars().take(64).collect());
        let s = self.0.as_bytes();
        if s.len() % 2 != 0 || s.len() > 8192 {
            return Err(bad());
        }
        let bytes = s
            .chunks(2)
            .map(|c| std::str::from_utf8(c).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let key: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if key.len() == len { Ok(key) } else { Err(bad()) }
    }

    /// The cursor as text, for URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from text received from a client; checked when used.
    pub fn new(text: impl Into<String>) -> Self {
        Cursor(text.into())
    }
}

/// Which page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
    /// Items per page, clamped to `1..=`[`MAX_PAGE_SIZE`].
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { after: None, limit: DEFAULT_PAGE_SIZE }
    }
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        PageRequest { after: None, limit }
    }

    /// The limit, clamped.
    pub fn effective_limit(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE_SIZE) as usize
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` sorted items: the extra one only tells that more
    /// exist. `key` gives an item's sort key.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> Vec<String>) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| Cursor::from_key(&key(last)))
        } else {
            None
        };
        Page { items, next }
    }
}

/// Who removed something, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// When.
    pub at: Timestamp,
    /// The deleting event.
    pub event_id: String,
    /// Who.
    pub actor: Option<String>,
}

impl Tombstone {
    /// The delete's stamp: its time, then its event id.
    pub fn stamp(&self) -> Stamp {
        Stamp { at: self.at, event_id: self.event_id.clone() }
    }

    /// Whether a repository's hold on a digest is live, and if not, the delete to show.
    ///
    /// `seen` is the newest push, mount or pull of the digest there; without one (the link
    /// was only deleted or counted) it is not live and shows its own delete. Otherwise the
    /// newest of the link's and the repository's deletes that is newer than `seen` hides it,
    /// the repository's on a tie, as in the reference store. For the stores that keep these
    /// registers as columns and decide liveness after reading them.
    ///
    /// ```
    /// use notify_core::Stamp;
    /// use notify_core::query::Tombstone;
    /// use notify_core::Timestamp;
    /// let at = |s: i64| Timestamp::from_unix_micros(s);
    /// let seen = Stamp { at: at(5), event_id: "push".into() };
    /// let delete = Tombstone { at: at(6), event_id: "del".into(), actor: None };
    /// assert_eq!(Tombstone::link_liveness(Some(&seen), None, None), (true, None));
    /// assert_eq!(Tombstone::link_liveness(Some(&seen), Some(delete.clone()), None), (false, Some(delete)));
    /// ```
    pub fn link_liveness(
        seen: Option<&Stamp>,
        link: Option<Tombstone>,
        repository: Option<Tombstone>,
    ) -> (bool, Option<Tombstone>) {
        let Some(seen) = seen else { return (false, link) };
        let hiding = [link, repository]
            .into_iter()
            .flatten()
            .filter(|d| d.stamp() > *seen)
            .max_by(|a, b| a.stamp().cmp(&b.stamp()));
        (hiding.is_none(), hiding)
    }

    /// A repository's delete, shown while nothing was observed there after it.
    pub fn of_repository(seen: Option<&Stamp>, deleted: Option<Tombstone>) -> Option<Tombstone> {
        deleted.filter(|d| seen.is_none_or(|s| d.stamp() > *s))
    }
}

/// How to match repository names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "match", content = "text", rename_all = "snake_case")]
pub enum NameMatch {
    /// Names starting with the text.
    Prefix(String),
    /// Names containing the text.
    Substring(String),
}

impl NameMatch {
    /// Whether `name` matches (case-insensitively; names are lowercase by grammar).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Prefix(p) => name.starts_with(&p.to_ascii_lowercase()),
            NameMatch::Substring(s) => name.contains(&s.to_ascii_lowercase()),
        }
    }
}

/// List repositories, ordered by registry then name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryQuery {
    /// Only this registry.
    pub registry: Option<String>,
    /// Only matching names.
    pub name: Option<NameMatch>,
    /// Which page. Cursor key: `[registry, repository]`.
    pub page: PageRequest,
}

/// A repository with its headline figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositorySummary {
    /// Registry.
    pub registry: String,
    /// Repository.
    pub repository: RepositoryName,
    /// Live tags.
    pub tag_count: u64,
    /// Counted manifest pushes.
    pub push_count: u64,
    /// Counted pulls.
    pub pull_count: u64,
    /// Last counted push.
    pub last_push: Option<Timestamp>,
    /// Last counted pull.
    pub last_pull: Option<Timestamp>,
    /// Set when the repository was deleted and nothing (push, mount, pull, tag) was seen in it
    /// since.
    pub deleted: Option<Tombstone>,
}

/// A live tag of a repository, ordered by tag name. Cursor key: `[tag]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSummary {
    /// The tag.
    pub tag: Tag,
    /// What it points at.
    pub digest: Digest,
    /// Kind of the content it points at, as known.
    pub kind: ContentKind,
    /// Media type of that content, as known.
    pub media_type: Option<String>,
    /// When it was set to `digest`.
    pub pushed_at: Timestamp,
    /// Who set it.
    pub pushed_by: Option<String>,
    /// Counted pushes to this tag, over its whole life.
    pub push_count: u64,
    /// Counted pulls by this tag, over its whole life.
    pub pull_count: u64,
    /// Last counted pull by this tag.
    pub last_pulled: Option<Timestamp>,
}

/// One change of a tag, newest first. Cursor key: `[unix micros, event id]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagHistoryEntry {
    /// When.
    pub at: Timestamp,
    /// The event that changed it.
    pub event_id: String,
    /// Who.
    pub actor: Option<String>,
    /// What the tag pointed at from then on; `None`: it was deleted.
    pub digest: Option<Digest>,
    /// What it pointed at just before (`None`: nothing, or deleted).
    pub previous: Option<Digest>,
}

impl TagHistoryEntry {
    /// The page of a tag's history as it stood at `at`: it starts with the change in force at
    /// that instant (the newest at or before it) and goes back from there. So the first entry
    /// of `page_at(t, PageRequest::first(1))` tells where the tag pointed at `t`: its `digest`,
    /// or `None` when the tag was deleted then; no entry at all, it did not exist yet.
    ///
    /// The page's own cursor is kept when it lies further back than `at` (the `next` of a page
    /// of this listing does), and so is a cursor that is not a position of this list, for the
    /// store to refuse.
    ///
    /// ```
    /// # notify_core::testkit::block_on(async {
    /// use notify_core::query::{PageRequest, TagHistoryEntry};
    /// use notify_core::testkit::builder::{DEFAULT_HOST, EventBuilder, apply_all, test_digest, time};
    /// use notify_core::{MemoryStore, Policy, RepoRef, Storage};
    /// let store = MemoryStore::new();
    /// let push = |id, at, n| EventBuilder::push(id, time(at), "app").manifest(&test_digest(n), 400).tag("latest");
    /// apply_all(&store, &[push("a", 10, 1), push("b", 20, 2)], &Policy::default()).await;
    /// let repo = RepoRef { registry: DEFAULT_HOST.into(), repository: "app".parse().unwrap() };
    /// let tag = "latest".parse().unwrap();
    /// let then = TagHistoryEntry::page_at(time(15), PageRequest::first(1));
    /// let page = store.tag_history(&repo, &tag, &then).await.unwrap();
    /// assert_eq!(page.items[0].digest, Some(test_digest(1)));
    /// # });
    /// ```
    pub fn page_at(at: Timestamp, page: PageRequest) -> PageRequest {
        // Newest first by `(micros, event id)`: what comes strictly after `(at + 1 µs, "")` is
        // at or before `at`, whatever its id.
        let start = (at.unix_micros().saturating_add(1), String::new());
        let further_back = match &page.after {
            None => false,
            Some(cursor) => cursor
                .to_key(2)
                .ok()
                .and_then(|k| Some((k[0].parse::<i64>().ok()?, k[1].clone())))
                .is_none_or(|key| key < start),
        };
        if further_back {
            page
        } else {
            PageRequest { after: Some(Cursor::from_key(&[start.0.to_string(), start.1])), ..page }
        }
    }
}

/// A tag as it stood at an instant, in a repository's tags of that instant, ordered by tag
/// name. Cursor key: `[tag]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastTag {
    /// The tag.
    pub tag: Tag,
    /// What it pointed at then.
    pub digest: Digest,
    /// When it was set to `digest`: the change of its history in force at the instant.
    pub set_at: Timestamp,
    /// The event that set it.
    pub event_id: String,
    /// Who set it.
    pub actor: Option<String>,
}

/// Where a digest lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLocation {
    /// Registry.
    pub registry: String,
    /// Repository.
    pub repository: RepositoryName,
    /// Whether the repository holds it now.
    pub live: bool,
    /// First push, mount or pull seen there.
    pub first_seen: Option<Timestamp>,
    /// The delete that removed it, when not live.
    pub deleted: Option<Tombstone>,
    /// Live tags there pointing at it, sorted.
    pub tags: Vec<Tag>,
    /// Counted pulls of it there.
    pub pull_count: u64,
    /// Last counted pull there.
    pub last_pulled: Option<Timestamp>,
}

impl DigestLocation {
    /// Its sort key in the list of a digest's repositories: `[registry, repository]`.
    pub fn cursor_key(&self) -> Vec<String> {
        vec![self.registry.clone(), self.repository.to_string()]
    }

    /// The `(registry, repository)` a page of that list starts after: the cursor's, or two
    /// empty strings (before every repository, whose name is never empty) on the first page.
    ///
    /// ```
    /// use notify_core::query::DigestLocation;
    /// use notify_core::{Cursor, PageRequest};
    /// assert_eq!(DigestLocation::position_after(&PageRequest::first(10)).unwrap(), (String::new(), String::new()));
    /// let after = Cursor::from_key(&["registry.test".into(), "team/app".into()]);
    /// let page = PageRequest { after: Some(after), limit: 10 };
    /// assert_eq!(DigestLocation::position_after(&page).unwrap(), ("registry.test".into(), "team/app".into()));
    /// ```
    pub fn position_after(page: &PageRequest) -> Result<(String, String), StorageError> {
        let Some(cursor) = &page.after else { return Ok((String::new(), String::new())) };
        let mut key = cursor.to_key(2)?.into_iter();
        Ok((key.next().unwrap_or_default(), key.next().unwrap_or_default()))
    }
}

/// A manifest that references a digest.
///
/// Ordered by the manifest's digest, then by kind in the order of [`ReferenceKind`]: the order
/// of the list of a digest's referrers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Referrer {
    /// The referencing manifest.
    pub digest: Digest,
    /// How it references.
    pub kind: ReferenceKind,
}

impl Referrer {
    /// Its sort key in the list of a digest's referrers: `[digest, kind]`.
    pub fn cursor_key(&self) -> Vec<String> {
        vec![self.digest.to_string(), self.kind.as_str().to_owned()]
    }

    /// The referrer a cursor of that list stands after.
    ///
    /// ```
    /// use notify_core::query::Referrer;
    /// use notify_core::{Cursor, ReferenceKind};
    /// let r = Referrer { digest: format!("sha256:{}", "a".repeat(64)).parse().unwrap(), kind: ReferenceKind::Layer };
    /// assert_eq!(Referrer::from_cursor(&Cursor::from_key(&r.cursor_key())).unwrap(), r);
    /// assert!(Referrer::from_cursor(&Cursor::from_key(&["sha256:x".into(), "layer".into()])).is_err());
    /// ```
    pub fn from_cursor(cursor: &Cursor) -> Result<Referrer, StorageError> {
        let bad = || StorageError::InvalidCursor(cursor.as_str().chars().take(64).collect());
        let key = cursor.to_key(2)?;
        Ok(Referrer {
            digest: key[0].parse().map_err(|_| bad())?,
            kind: ReferenceKind::parse(&key[1]).ok_or_else(bad)?,
        })
    }
}

/// Everything known about one digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestInfo {
    /// The digest.
    pub digest: Digest,
    /// Manifest, index, blob, or unknown (seen only in a delete).
    pub kind: ContentKind,
    /// Media type.
    pub media_type: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Artifact type.
    pub artifact_type: Option<String>,
    /// First seen anywhere.
    pub first_seen: Option<Timestamp>,
    /// The repositories that hold or held it, ordered by registry then name: the first
    /// [`DIGEST_PAGE_SIZE`].
    pub repositories: Vec<DigestLocation>,
    /// Where the repositories go on, for
    /// [`Storage::digest_repositories`](crate::Storage::digest_repositories); `None`: that was
    /// all of them.
    pub repositories_next: Option<Cursor>,
    /// What it references, ordered by digest then kind (bounded by the manifest's own size).
    pub references: Vec<ContentReference>,
    /// The manifests that reference it, ordered by digest then kind: the first
    /// [`DIGEST_PAGE_SIZE`].
    pub referenced_by: Vec<Referrer>,
    /// Where the referrers go on, for
    /// [`Storage::digest_referrers`](crate::Storage::digest_referrers); `None`: that was all.
    pub referenced_by_next: Option<Cursor>,
}

/// Filters of the event log; all given ones must match. Ordered newest first. Cursor key:
/// `[unix micros, event id]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    /// Registry.
    pub registry: Option<String>,
    /// Repository.
    pub repository: Option<RepositoryName>,
    /// Tag.
    pub tag: Option<Tag>,
    /// Digest.
    pub digest: Option<Digest>,
    /// Action.
    pub action: Option<Action>,
    /// Actor name.
    pub actor: Option<String>,
    /// Client IP address.
    pub client_ip: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// Which page.
    pub page: PageRequest,
}

impl EventQuery {
    /// Whether a log entry passes the filters (not the page).
    pub fn matches(&self, e: &crate::LogEntry) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, have: Option<&T>) -> bool {
            want.as_ref().is_none_or(|w| have == Some(w))
        }
        eq(&self.registry, Some(&e.registry))
            && eq(&self.repository, Some(&e.repository))
            && eq(&self.tag, e.tag.as_ref())
            && eq(&self.digest, e.digest.as_ref())
            && eq(&self.action, Some(&e.action))
            && eq(&self.actor, e.actor.as_ref())
            && eq(&self.client_ip, e.client_ip.as_ref())
            && self.since.is_none_or(|s| e.timestamp >= s)
            && self.until.is_none_or(|u| e.timestamp < u)
    }
}

/// Statistics of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryStats {
    /// Registry.
    pub registry: String,
    /// Repository.
    pub repository: RepositoryName,
    /// Live tags.
    pub tag_count: u64,
    /// Digests the repository holds now (manifests and blobs).
    pub live_digests: u64,
    /// Counted manifest pushes.
    pub push_count: u64,
    /// Counted pulls.
    pub pull_count: u64,
    /// First counted push.
    pub first_push: Option<Timestamp>,
    /// Last counted push.
    pub last_push: Option<Timestamp>,
    /// First counted pull.
    pub first_pull: Option<Timestamp>,
    /// Last counted pull.
    pub last_pull: Option<Timestamp>,
    /// Distinct named actors of counted pushes, sorted.
    pub pushers: Vec<String>,
    /// Distinct named actors of counted pulls, sorted.
    pub pullers: Vec<String>,
    /// Set when the repository was deleted and nothing (push, mount, pull, tag) was seen in it
    /// since.
    pub deleted: Option<Tombstone>,
}

/// Which live tags the inventory and the unused list hold: those that match every condition
/// given (none given: all of them).
///
/// ```
/// use notify_core::query::{LiveTagFilter, NameMatch};
///
/// // Every `latest` of the repositories under `team/`, in any registry.
/// let filter = LiveTagFilter {
///     repository: Some(NameMatch::Prefix("team/".into())),
///     tag: Some("latest".parse().unwrap()),
///     ..LiveTagFilter::default()
/// };
/// assert!(filter.registry.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTagFilter {
    /// Only this registry.
    pub registry: Option<String>,
    /// Only the repositories whose names match, as in repository search.
    pub repository: Option<NameMatch>,
    /// Only this tag (tags are case-sensitive).
    pub tag: Option<Tag>,
}

impl LiveTagFilter {
    /// Only this registry.
    pub fn registry(registry: impl Into<String>) -> Self {
        LiveTagFilter { registry: Some(registry.into()), ..LiveTagFilter::default() }
    }

    /// Whether the tags of `repository` in `registry` may pass the filter.
    pub fn matches_repository(&self, registry: &str, repository: &RepositoryName) -> bool {
        self.registry.as_deref().is_none_or(|r| r == registry)
            && self.repository.as_ref().is_none_or(|m| m.matches(repository.as_str()))
    }

    /// Whether the tag `tag` of `repository` in `registry` passes the filter.
    pub fn matches(&self, registry: &str, repository: &RepositoryName, tag: &Tag) -> bool {
        self.matches_repository(registry, repository) && self.tag.as_ref().is_none_or(|t| t == tag)
    }
}

/// The migration inventory: every live tag, ordered by registry, repository, tag. Cursor key:
/// `[registry, repository, tag]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryQuery {
    /// Which live tags.
    pub filter: LiveTagFilter,
    /// Which page.
    pub page: PageRequest,
}

/// One live `registry/repository:tag@digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Registry.
    pub registry: String,
    /// Repository.
    pub repository: RepositoryName,
    /// Tag.
    pub tag: Tag,
    /// Digest the tag points at.
    pub digest: Digest,
    /// Media type of that content, as known.
    pub media_type: Option<String>,
}

impl InventoryItem {
    /// The inventory's sort key, `[registry, repository, tag]`: what its cursors and those of
    /// [`UnusedQuery`] hold.
    pub fn sort_key(&self) -> Vec<String> {
        vec![self.registry.clone(), self.repository.to_string(), self.tag.to_string()]
    }
}

/// The clean-up question: the live tags nobody has used since an instant, in the inventory's
/// order and with its cursor key, `[registry, repository, tag]`.
///
/// A tag is unused since `since` when it was set to its digest before it and had no counted
/// pull at or after it, neither of the tag by name nor of its digest in its repository (a
/// tag never pulled has none). Both pulls count so that an image pulled by digest is in use,
/// and so that a tag clients pull by name is not reported just because it was moved.
///
/// No index can find unused tags: what makes a tag unused is the absence of pulls after an
/// instant the query chooses. So a page walks the live tags after its cursor (those the
/// filter keeps) and examines at most `walk` of them; one that reaches that bound before its
/// page is full ends there, with a `next` cursor at the last tag it examined. A page of this
/// list may therefore hold fewer items than its limit, or none, and still have a next page:
/// only a missing `next` ends the list. That keeps every page's cost bounded when unused tags
/// are rare among many live ones. [`UnusedWalk`] states the rule once for every store.
///
/// ```
/// use notify_core::query::UnusedQuery;
///
/// // Tags set before 1 September 2026 and pulled neither by name nor by digest since.
/// let query = UnusedQuery::since("2026-09-01T00:00:00Z".parse().unwrap());
/// assert!(query.filter.registry.is_none());
/// assert_eq!(query.walk, UnusedQuery::DEFAULT_WALK);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusedQuery {
    /// Which live tags.
    pub filter: LiveTagFilter,
    /// The instant.
    pub since: Timestamp,
    /// Which page.
    pub page: PageRequest,
    /// How many live tags the page may examine at most (at least 1).
    pub walk: u32,
}

impl UnusedQuery {
    /// The live tags a page examines at most unless told otherwise: a few milliseconds of
    /// work for a database (PostgreSQL: about 5 ms at 10 million events, 20 ms where every
    /// tag needs its digest's pulls too).
    pub const DEFAULT_WALK: u32 = 1_000;

    /// The first page of every registry's tags unused since `since`.
    pub fn since(since: Timestamp) -> Self {
        UnusedQuery {
            filter: LiveTagFilter::default(),
            since,
            page: PageRequest::default(),
            walk: Self::DEFAULT_WALK,
        }
    }
}

/// One page's walk of the unused list (see [`UnusedQuery`]): a store feeds it the live tags
/// after the page's cursor, in the inventory's order, each with its use, until
/// [`UnusedWalk::take`] says the page needs no more; [`UnusedWalk::finish`] makes the page.
///
/// ```
/// use notify_core::query::{InventoryItem, UnusedItem, UnusedQuery, UnusedWalk};
///
/// let at = |s: &str| s.parse().unwrap();
/// let tag = |t: &str, pulled: Option<&str>| UnusedItem {
///     item: InventoryItem {
///         registry: "r".into(),
///         repository: "team/app".parse().unwrap(),
///         tag: t.parse().unwrap(),
///         digest: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
///         media_type: None,
///     },
///     pushed_at: at("2026-01-01T00:00:00Z"),
///     last_pulled: pulled.map(at),
/// };
/// let mut query = UnusedQuery::since(at("2026-06-01T00:00:00Z"));
/// query.walk = 2;
/// let mut walk = UnusedWalk::new(&query);
/// assert!(walk.take(tag("a", Some("2026-07-01T00:00:00Z")))); // used: not listed
/// assert!(!walk.take(tag("b", None))); // unused, and the walk's bound is reached
/// let page = walk.finish();
/// assert_eq!(page.items.len(), 1);
/// assert!(page.next.is_some(), "the next page starts after b");
/// ```
#[derive(Debug)]
pub struct UnusedWalk {
    since: Timestamp,
    limit: usize,
    walk: usize,
    examined: usize,
    last: Option<Vec<String>>,
    items: Vec<UnusedItem>,
}

impl UnusedWalk {
    /// The walk of `query`'s page.
    pub fn new(query: &UnusedQuery) -> Self {
        UnusedWalk {
            since: query.since,
            limit: query.page.effective_limit(),
            walk: query.walk.max(1) as usize,
            examined: 0,
            last: None,
            items: Vec::new(),
        }
    }

    /// Examines the next live tag; false once the page needs no more (it has one item more
    /// than its limit, or the walk's bound is reached).
    pub fn take(&mut self, tag: UnusedItem) -> bool {
        debug_assert!(self.wants_more(), "a finished walk is fed no more tags");
        self.examined += 1;
        self.last = Some(tag.item.sort_key());
        if self.lists(tag.pushed_at, tag.last_pulled) {
            self.items.push(tag);
        }
        self.wants_more()
    }

    /// Whether a tag set to its digest at `pushed_at`, and last pulled (by name or by
    /// digest) at `last_pulled`, is listed: what a store may ask before it makes the tag's
    /// item, to [`pass`](Self::pass) a tag that is not.
    pub fn lists(&self, pushed_at: Timestamp, last_pulled: Option<Timestamp>) -> bool {
        unused_at(pushed_at, last_pulled, self.since)
    }

    /// Examines the next live tag, one that [`lists`](Self::lists) says is not listed, known
    /// by its sort key (registry, repository, tag) alone; false once the page needs no more,
    /// as [`take`](Self::take).
    pub fn pass(&mut self, key: Vec<String>) -> bool {
        debug_assert!(self.wants_more(), "a finished walk is fed no more tags");
        self.examined += 1;
        self.last = Some(key);
        self.wants_more()
    }

    /// Whether the page needs more tags.
    pub fn wants_more(&self) -> bool {
        self.items.len() <= self.limit && self.examined < self.walk
    }

    /// How many more tags the page may examine at most.
    pub fn remaining(&self) -> usize {
        if self.wants_more() { self.walk - self.examined } else { 0 }
    }

    /// How many tags it examined, and how many of them it kept.
    pub fn counts(&self) -> (usize, usize) {
        (self.examined, self.items.len())
    }

    /// The page: up to its limit of the tags kept. The next page starts after the last
    /// item when more were found than the page holds, else after the last tag examined when
    /// the walk's bound cut it short, and there is none when the live tags ran out first.
    pub fn finish(mut self) -> Page<UnusedItem> {
        let next = if self.items.len() > self.limit {
            self.items.truncate(self.limit);
            self.items.last().map(|u| Cursor::from_key(&u.item.sort_key()))
        } else if self.examined >= self.walk {
            self.last.as_deref().map(Cursor::from_key)
        } else {
            None
        };
        Page { items: self.items, next }
    }
}

/// A live tag and when it was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusedItem {
    /// The tag, as the inventory lists it.
    pub item: InventoryItem,
    /// When the tag was set to its digest.
    pub pushed_at: Timestamp,
    /// The newest counted pull of the tag (by name, whatever it pointed at then) or of its
    /// digest in this repository.
    pub last_pulled: Option<Timestamp>,
}

impl UnusedItem {
    /// Whether the tag is unused since `instant`, as [`UnusedQuery`] means it.
    ///
    /// ```
    /// use notify_core::Timestamp;
    /// use notify_core::query::{InventoryItem, UnusedItem};
    ///
    /// let at = |s: &str| s.parse::<Timestamp>().unwrap();
    /// let unused = UnusedItem {
    ///     item: InventoryItem {
    ///         registry: "registry.example".into(),
    ///         repository: "library/alpine".parse().unwrap(),
    ///         tag: "3.20".parse().unwrap(),
    ///         digest: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
    ///         media_type: None,
    ///     },
    ///     pushed_at: at("2026-01-01T00:00:00Z"),
    ///     last_pulled: Some(at("2026-06-01T00:00:00Z")),
    /// };
    /// assert!(unused.unused_since(at("2026-06-01T00:00:01Z")));
    /// assert!(!unused.unused_since(at("2026-06-01T00:00:00Z")));
    /// ```
    pub fn unused_since(&self, instant: Timestamp) -> bool {
        unused_at(self.pushed_at, self.last_pulled, instant)
    }
}

/// The one rule of the unused list: set before `instant`, and not pulled at or after it.
fn unused_at(pushed_at: Timestamp, last_pulled: Option<Timestamp>, instant: Timestamp) -> bool {
    pushed_at < instant && last_pulled.is_none_or(|pulled| pulled < instant)
}

/// An event the model cannot hold, kept verbatim with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// Dedup key: `id:<event id>` when the event has one, else `sha256:<hash of raw>`.
    pub key: String,
    /// The registry the request came for, when known.
    pub registry: Option<String>,
    /// When the server received it (the server's clock; events may have no valid time).
    pub received_at: Timestamp,
    /// Why it was quarantined.
    pub reason: String,
    /// The event's JSON text exactly as received.
    pub raw: String,
}

impl QuarantineRecord {
    /// Builds a record, deriving the dedup key from the event id or the raw text.
    pub fn new(
        event_id: Option<&str>,
        raw: String,
        reason: String,
        registry: Option<String>,
        received_at: Timestamp,
    ) -> Self {
        use sha2::{Digest as _, Sha256};
        let key = match event_id {
            Some(id) if !id.is_empty() => format!("id:{id}"),
            _ => {
                let hash = Sha256::digest(raw.as_bytes());
                let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            }
        };
        QuarantineRecord { key, registry, received_at, reason, raw }
    }
}

/// The quarantine, newest first. Cursor key: `[unix micros, key]`.
pub type QuarantineQuery = PageRequest;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(at: i64, id: &str, who: &str) -> Tombstone {
        Tombstone { at: Timestamp::from_unix_micros(at), event_id: id.into(), actor: Some(who.into()) }
    }

    #[test]
    fn the_newer_delete_hides_a_link_and_the_repository_wins_a_tie() {
        let seen = Stamp { at: Timestamp::from_unix_micros(5), event_id: "s".into() };
        let live = |l: Tombstone, r: Tombstone| Tombstone::link_liveness(Some(&seen), Some(l), Some(r));
        assert_eq!(live(t(4, "a", "l"), t(3, "a", "r")), (true, None));
        assert_eq!(live(t(6, "a", "l"), t(6, "a", "r")).1.unwrap().actor.as_deref(), Some("r"));
        assert_eq!(live(t(7, "a", "l"), t(6, "a", "r")).1.unwrap().actor.as_deref(), Some("l"));
        assert_eq!(live(t(5, "a", "l"), t(5, "s", "r")), (true, None), "a delete at the sighting's stamp");
        assert_eq!(Tombstone::link_liveness(None, Some(t(1, "a", "l")), None), (false, Some(t(1, "a", "l"))));
        assert_eq!(Tombstone::link_liveness(None, None, Some(t(1, "a", "r"))), (false, None));
    }

    #[test]
    fn a_repository_delete_shows_while_nothing_newer_was_seen() {
        let seen = |at: i64| Stamp { at: Timestamp::from_unix_micros(at), event_id: "s".into() };
        assert_eq!(Tombstone::of_repository(None, Some(t(1, "d", "x"))), Some(t(1, "d", "x")));
        assert_eq!(Tombstone::of_repository(Some(&seen(0)), Some(t(1, "d", "x"))), Some(t(1, "d", "x")));
        assert_eq!(Tombstone::of_repository(Some(&seen(2)), Some(t(1, "d", "x"))), None);
        assert_eq!(Tombstone::of_repository(Some(&seen(2)), None), None);
    }
}
