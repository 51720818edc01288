//! Every answer a store gives, in one comparable value.
//!
//! [`snapshot`] asks every read query of [`Storage`] about everything the store's event log
//! mentions, and records the answers. Two stores that hold the same events must have equal
//! snapshots, whatever order or how many times the events were delivered, and whichever backend
//! holds them.
//!
//! Lists are read page by page with a small limit, so cursors are exercised, and checked
//! against the same list read in one page; the snapshot then keeps the items and the shape of
//! the pages (how many items, whether a next page was announced) but never a cursor, which is
//! opaque. `LogEntry::raw` is kept as parsed JSON, because a backend may normalise whitespace
//! and key order; quarantined records keep their raw text exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use serde::Serialize;
use serde_json::Value;

use crate::command::RepoRef;
use crate::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, LiveTagFilter, MAX_PAGE_SIZE,
    NameMatch, Page, PastTag, QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats,
    RepositorySummary, TagHistoryEntry, TagSummary, UnusedItem, UnusedQuery,
};
use crate::{
    Action, Cursor, Digest, LogEntry, PageRequest, RepositoryName, Storage, StorageError, Tag, Timestamp,
};

/// The page size snapshots read lists with: small, so that every list spans several pages.
pub const SNAPSHOT_PAGE_SIZE: u32 = 2;

/// The last microsecond of year 9999, the latest RFC 3339 writes.
const LAST_MICROS: i64 = 253_402_300_799_999_999;

/// How many values of each event filter a snapshot tries.
const FILTER_VALUES: usize = 8;

/// One page as the store returned it, without its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageShape {
    /// Items on the page.
    pub len: usize,
    /// Whether the page announced a next one.
    pub has_next: bool,
}

/// A whole list, read page by page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing<T> {
    /// Every item, in list order.
    pub items: Vec<T>,
    /// The pages they came in.
    pub pages: Vec<PageShape>,
}

/// A log entry with its raw JSON parsed, so that equal JSON compares equal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedEvent {
    /// The entry, with `raw` emptied.
    pub entry: LogEntry,
    /// The entry's `raw`, parsed; a JSON string holding the text if it is not JSON.
    pub raw: Value,
}

impl From<LogEntry> for LoggedEvent {
    fn from(mut entry: LogEntry) -> Self {
        let text = std::mem::take(&mut entry.raw);
        let raw = serde_json::from_str(&text).unwrap_or(Value::String(text));
        LoggedEvent { entry, raw }
    }
}

/// Turns log entries into [`LoggedEvent`]s, parsing each distinct raw text once: a snapshot
/// meets every entry under many filters.
#[derive(Default)]
struct RawCache(BTreeMap<String, Value>);

impl RawCache {
    fn logged(&mut self, mut entry: LogEntry) -> LoggedEvent {
        let text = std::mem::take(&mut entry.raw);
        let raw = match self.0.get(&text) {
            Some(value) => value.clone(),
            None => {
                let value = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
                self.0.insert(text, value.clone());
                value
            }
        };
        LoggedEvent { entry, raw }
    }

    fn listing(&mut self, listing: Listing<LogEntry>) -> Listing<LoggedEvent> {
        Listing { items: listing.items.into_iter().map(|e| self.logged(e)).collect(), pages: listing.pages }
    }
}

/// Everything a store answers about one repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepositorySnapshot {
    /// Registry.
    pub registry: String,
    /// Repository.
    pub repository: RepositoryName,
    /// `repository_stats`.
    pub stats: Option<RepositoryStats>,
    /// `tags`, paged.
    pub tags: Listing<TagSummary>,
    /// `tag_history` of every tag the event log names in this repository, paged.
    pub tag_history: BTreeMap<Tag, Listing<TagHistoryEntry>>,
    /// `tags_at` on and just before a few times of those histories, and long after them.
    pub tags_at: BTreeMap<Timestamp, Listing<PastTag>>,
}

/// The paged lists of one digest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DigestLists {
    /// `digest_repositories`.
    pub repositories: Listing<DigestLocation>,
    /// `digest_referrers`.
    pub referrers: Listing<Referrer>,
}

/// Every answer of a store, for comparing stores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreSnapshot {
    /// `repositories` without filters, paged.
    pub repositories: Listing<RepositorySummary>,
    /// `repositories` of each registry.
    pub repositories_by_registry: BTreeMap<String, Listing<RepositorySummary>>,
    /// `repositories` matching a prefix or a substring of known names, keyed by the query.
    pub repository_searches: BTreeMap<String, Listing<RepositorySummary>>,
    /// Per repository, listed or named by the log, in (registry, repository) order.
    pub repository_details: Vec<RepositorySnapshot>,
    /// `digest` of every digest the log names, of everything those answers reference or are
    /// referenced by, and of one digest nothing names.
    pub digests: BTreeMap<Digest, Option<DigestInfo>>,
    /// `digest_repositories` and `digest_referrers` of each of those digests, paged.
    pub digest_lists: BTreeMap<Digest, DigestLists>,
    /// `events` without filters, paged.
    pub events: Listing<LoggedEvent>,
    /// `events` with one filter each, for values taken from the log, keyed by the filter.
    pub filtered_events: BTreeMap<String, Listing<LoggedEvent>>,
    /// `inventory` of all registries, paged.
    pub inventory: Listing<InventoryItem>,
    /// `inventory` of each registry.
    pub inventory_by_registry: BTreeMap<String, Listing<InventoryItem>>,
    /// `inventory` under filters made from what it lists (a few tags, the repository searches
    /// above, one of each together), keyed by the filter.
    pub inventory_filtered: BTreeMap<String, Listing<InventoryItem>>,
    /// `unused` without an instant that leaves a tag out (when every tag was set and last
    /// pulled), then since instants on and just after those times, keyed by the instant.
    pub unused: BTreeMap<Timestamp, Listing<UnusedItem>>,
    /// `quarantined`, paged.
    pub quarantine: Listing<QuarantineRecord>,
}

impl StoreSnapshot {
    /// The snapshot with every raw event replaced by `null`: for comparing stores that hold
    /// the same events in different JSON shapes (registry 2.x and 3.x).
    pub fn without_raw(mut self) -> Self {
        let strip = |listing: &mut Listing<LoggedEvent>| {
            for event in &mut listing.items {
                event.raw = Value::Null;
            }
        };
        strip(&mut self.events);
        self.filtered_events.values_mut().for_each(strip);
        self
    }
}

/// Reads a whole list page by page with `limit`, checking what a page promises: no more items
/// than asked, a next page only after a full non-empty page, and no empty page after the first.
pub async fn read_pages<T>(
    what: &str,
    limit: u32,
    fetch: impl AsyncFn(PageRequest) -> Result<Page<T>, StorageError>,
) -> Listing<T> {
    read_pages_promising(what, limit, true, &fetch).await
}

/// Reads every page; with `full_pages`, also holds the list to its promise that a page with
/// a next cursor is full and that the page after one is not empty.
async fn read_pages_promising<T>(
    what: &str,
    limit: u32,
    full_pages: bool,
    fetch: &impl AsyncFn(PageRequest) -> Result<Page<T>, StorageError>,
) -> Listing<T> {
    let limit_len = PageRequest::first(limit).effective_limit();
    let mut listing = Listing { items: Vec::new(), pages: Vec::new() };
    let mut after = None;
    let mut previous: Option<Cursor> = None;
    loop {
        let request = PageRequest { after: after.take(), limit };
        let page = fetch(request).await.unwrap_or_else(|e| panic!("{what}: query failed: {e}"));
        let shape = PageShape { len: page.items.len(), has_next: page.next.is_some() };
        assert!(shape.len <= limit_len, "{what}: a page of limit {limit} has {} items", shape.len);
        if shape.has_next && full_pages {
            assert_eq!(shape.len, limit_len, "{what}: a page with a next cursor is not full");
        }
        if !listing.pages.is_empty() && full_pages {
            assert!(shape.len > 0, "{what}: the page after a next cursor is empty");
        }
        listing.items.extend(page.items);
        listing.pages.push(shape);
        assert!(listing.pages.len() <= 100_000, "{what}: more than 100000 pages, cursors do not advance");
        match page.next {
            Some(next) => {
                assert!(previous.as_ref() != Some(&next), "{what}: the next cursor repeats the last one");
                previous = Some(next.clone());
                after = Some(next);
            }
            None => return listing,
        }
    }
}

/// Reads a list with `limit` and again with the largest page, and checks both give the same
/// items; returns the paged reading.
pub async fn read_list<T: PartialEq + Debug>(
    what: &str,
    limit: u32,
    fetch: impl AsyncFn(PageRequest) -> Result<Page<T>, StorageError>,
) -> Listing<T> {
    let paged = read_pages(what, limit, &fetch).await;
    let whole = read_pages(what, MAX_PAGE_SIZE, &fetch).await;
    assert_eq!(paged.items, whole.items, "{what}: pages of {limit} do not add up to the whole list");
    paged
}

/// [`read_list`] for a list whose pages walk a bounded number of rows (the unused list, see
/// `UnusedQuery`): a page may be short, or empty, and still have a next one. What is still
/// checked: no page holds more than asked, the cursors advance, and pages of `limit` add up
/// to the whole list.
pub async fn read_walked_list<T: PartialEq + Debug>(
    what: &str,
    limit: u32,
    fetch: impl AsyncFn(PageRequest) -> Result<Page<T>, StorageError>,
) -> Listing<T> {
    let paged = read_pages_promising(what, limit, false, &fetch).await;
    let whole = read_pages_promising(what, MAX_PAGE_SIZE, false, &fetch).await;
    assert_eq!(paged.items, whole.items, "{what}: pages of {limit} do not add up to the whole list");
    paged
}

/// Up to `n` values spread evenly over `values` (sorted and deduplicated).
fn spread<T: Clone>(values: &BTreeSet<T>, n: usize) -> Vec<T> {
    let all: Vec<T> = values.iter().cloned().collect();
    if all.len() <= n {
        return all;
    }
    let last = all.len() - 1;
    let picks: BTreeSet<usize> = (0..n).map(|i| i * last / (n - 1)).collect();
    picks.into_iter().map(|i| all[i].clone()).collect()
}

/// A digest no test names: its answer must be `None`.
fn unnamed_digest() -> Digest {
    format!("sha256:{}", "f".repeat(64)).parse().expect("64 hex characters make a sha256 digest")
}

/// Asks `store` every read query and records every answer. Panics when a store breaks a page
/// promise (see [`read_pages`]) or fails a query.
pub async fn snapshot(store: &dyn Storage) -> StoreSnapshot {
    let page = SNAPSHOT_PAGE_SIZE;
    let events = read_list("events", page, async |p| {
        store.events(&EventQuery { page: p, ..EventQuery::default() }).await
    })
    .await;
    let log: Vec<&LogEntry> = events.items.iter().collect();
    let mut raws = RawCache::default();
    let events = raws.listing(events.clone());

    let repositories = read_list("repositories", page, async |p| {
        store.repositories(&RepositoryQuery { page: p, ..RepositoryQuery::default() }).await
    })
    .await;

    let mut repos: BTreeSet<(String, RepositoryName)> =
        repositories.items.iter().map(|r| (r.registry.clone(), r.repository.clone())).collect();
    repos.extend(log.iter().map(|e| (e.registry.clone(), e.repository.clone())));
    let registries: BTreeSet<String> = repos.iter().map(|(registry, _)| registry.clone()).collect();

    let mut repositories_by_registry = BTreeMap::new();
    let mut inventory_by_registry = BTreeMap::new();
    for registry in &registries {
        let by_registry = read_list(&format!("repositories of {registry}"), page, async |p| {
            let query = RepositoryQuery { registry: Some(registry.clone()), name: None, page: p };
            store.repositories(&query).await
        })
        .await;
        repositories_by_registry.insert(registry.clone(), by_registry);
        let inventory = read_list(&format!("inventory of {registry}"), page, async |p| {
            store
                .inventory(&InventoryQuery { filter: LiveTagFilter::registry(registry.clone()), page: p })
                .await
        })
        .await;
        inventory_by_registry.insert(registry.clone(), inventory);
    }

    // Upper case in a prefix checks that matching ignores case; names are lowercase.
    let mut searches = BTreeMap::new();
    for (_, name) in &repos {
        let name = name.as_str();
        let head: String = name.chars().take(3).collect();
        let tail: String = name.chars().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
        for search in [NameMatch::Prefix(head.to_ascii_uppercase()), NameMatch::Substring(tail)] {
            searches.insert(format!("{search:?}"), search);
        }
    }
    let mut repository_searches = BTreeMap::new();
    for (label, search) in &searches {
        let found = read_list(&format!("repositories matching {label}"), page, async |p| {
            let query = RepositoryQuery { registry: None, name: Some(search.clone()), page: p };
            store.repositories(&query).await
        })
        .await;
        repository_searches.insert(label.clone(), found);
    }

    let mut repository_details = Vec::new();
    for (registry, repository) in &repos {
        let repo = RepoRef { registry: registry.clone(), repository: repository.clone() };
        let stats = store
            .repository_stats(&repo)
            .await
            .unwrap_or_else(|e| panic!("repository_stats of {registry}/{repository} failed: {e}"));
        let tags = read_list(&format!("tags of {registry}/{repository}"), page, async |p| {
            store.tags(&repo, &p).await
        })
        .await;
        let tag_names: BTreeSet<Tag> = log
            .iter()
            .filter(|e| e.registry == *registry && e.repository == *repository)
            .filter_map(|e| e.tag.clone())
            .chain(tags.items.iter().map(|t| t.tag.clone()))
            .collect();
        let mut tag_history = BTreeMap::new();
        for tag in tag_names {
            let history = read_list(&format!("history of {registry}/{repository}:{tag}"), page, async |p| {
                store.tag_history(&repo, &tag, &p).await
            })
            .await;
            tag_history.insert(tag, history);
        }
        let changes: BTreeSet<Timestamp> =
            tag_history.values().flat_map(|h| h.items.iter().map(|e| e.at)).collect();
        let mut instants = vec![Timestamp::from_unix_micros(LAST_MICROS)];
        for t in spread(&changes, FILTER_VALUES / 2) {
            instants.extend([t, Timestamp::from_unix_micros(t.unix_micros().saturating_sub(1))]);
        }
        let mut tags_at = BTreeMap::new();
        for instant in instants {
            let listed =
                read_list(&format!("tags of {registry}/{repository} at {instant}"), page, async |p| {
                    store.tags_at(&repo, instant, &p).await
                })
                .await;
            tags_at.insert(instant, listed);
        }
        repository_details.push(RepositorySnapshot {
            registry: registry.clone(),
            repository: repository.clone(),
            stats,
            tags,
            tag_history,
            tags_at,
        });
    }

    let mut digests: BTreeMap<Digest, Option<DigestInfo>> = BTreeMap::new();
    let mut pending: Vec<Digest> = log.iter().filter_map(|e| e.digest.clone()).collect();
    pending.push(unnamed_digest());
    while let Some(digest) = pending.pop() {
        if digests.contains_key(&digest) {
            continue;
        }
        let info = store.digest(&digest).await.unwrap_or_else(|e| panic!("digest {digest} failed: {e}"));
        if let Some(info) = &info {
            pending.extend(info.references.iter().map(|r| r.digest.clone()));
            pending.extend(info.referenced_by.iter().map(|r| r.digest.clone()));
        }
        digests.insert(digest, info);
    }
    let mut digest_lists = BTreeMap::new();
    for digest in digests.keys() {
        let repositories =
            read_list("digest_repositories", page, async |p| store.digest_repositories(digest, &p).await)
                .await;
        let referrers =
            read_list("digest_referrers", page, async |p| store.digest_referrers(digest, &p).await).await;
        digest_lists.insert(digest.clone(), DigestLists { repositories, referrers });
    }

    let filtered_events = filtered_events(store, &log, &mut raws).await;

    let inventory = read_list("inventory", page, async |p| {
        store.inventory(&InventoryQuery { filter: LiveTagFilter::default(), page: p }).await
    })
    .await;
    let inventory_filtered = inventory_filtered(store, &inventory.items, &searches, page).await;
    let unused = unused(store, page).await;
    let quarantine = read_list("quarantine", page, async |p| store.quarantined(&p).await).await;

    StoreSnapshot {
        repositories,
        repositories_by_registry,
        repository_searches,
        repository_details,
        digests,
        digest_lists,
        events,
        filtered_events,
        inventory,
        inventory_by_registry,
        inventory_filtered,
        unused,
        quarantine,
    }
}

/// The inventory under a few filters: each of up to [`FILTER_VALUES`] tags it lists, then
/// each repository search, then the first of both together.
async fn inventory_filtered(
    store: &dyn Storage,
    inventory: &[InventoryItem],
    searches: &BTreeMap<String, NameMatch>,
    page: u32,
) -> BTreeMap<String, Listing<InventoryItem>> {
    let tags: BTreeSet<Tag> = inventory.iter().map(|i| i.tag.clone()).collect();
    let tags = spread(&tags, FILTER_VALUES);
    let names: Vec<NameMatch> = searches.values().take(FILTER_VALUES).cloned().collect();
    let mut filters: Vec<LiveTagFilter> = tags
        .iter()
        .map(|t| LiveTagFilter { tag: Some(t.clone()), ..LiveTagFilter::default() })
        .chain(
            names.iter().map(|m| LiveTagFilter { repository: Some(m.clone()), ..LiveTagFilter::default() }),
        )
        .collect();
    if let (Some(tag), Some(name)) = (tags.first(), names.first()) {
        filters.push(LiveTagFilter {
            registry: None,
            repository: Some(name.clone()),
            tag: Some(tag.clone()),
        });
    }
    let mut out = BTreeMap::new();
    for filter in filters {
        let label = format!("{filter:?}");
        let listed = read_list(&format!("inventory of {label}"), page, async |p| {
            store.inventory(&InventoryQuery { filter: filter.clone(), page: p }).await
        })
        .await;
        out.insert(label, listed);
    }
    out
}

/// The tags unused since a few instants: the latest there is, which leaves none out and so
/// shows when each was set and last pulled; then on and one microsecond after times those
/// show, where a comparison off by one would tell.
async fn unused(store: &dyn Storage, page: u32) -> BTreeMap<Timestamp, Listing<UnusedItem>> {
    let list = async |since: Timestamp| {
        read_walked_list(&format!("unused since {since}"), page, async |p| {
            store.unused(&UnusedQuery { page: p, ..UnusedQuery::since(since) }).await
        })
        .await
    };
    let end = Timestamp::from_unix_micros(LAST_MICROS);
    let every = list(end).await;
    let times: BTreeSet<Timestamp> =
        every.items.iter().flat_map(|u| std::iter::once(u.pushed_at).chain(u.last_pulled)).collect();
    // Spread over the range rather than the first few, and never more than FILTER_VALUES.
    let step = times.len().div_ceil(FILTER_VALUES).max(1);
    let mut out = BTreeMap::from([(end, every)]);
    for t in times.into_iter().step_by(step) {
        for instant in [t, Timestamp::from_unix_micros(t.unix_micros().saturating_add(1))] {
            out.insert(instant, list(instant).await);
        }
    }
    out
}

/// The event log under each single filter, for a few values of each taken from the log.
async fn filtered_events(
    store: &dyn Storage,
    log: &[&LogEntry],
    raws: &mut RawCache,
) -> BTreeMap<String, Listing<LoggedEvent>> {
    fn values<T: Ord + Clone>(log: &[&LogEntry], f: impl Fn(&LogEntry) -> Option<T>) -> Vec<T> {
        spread(&log.iter().filter_map(|e| f(e)).collect(), FILTER_VALUES)
    }
    let mut queries: Vec<(String, EventQuery)> = Vec::new();
    let q = EventQuery::default;
    for v in values(log, |e| Some(e.registry.clone())) {
        queries.push((format!("registry={v}"), EventQuery { registry: Some(v), ..q() }));
    }
    for v in values(log, |e| Some(e.repository.clone())) {
        queries.push((format!("repository={v}"), EventQuery { repository: Some(v), ..q() }));
    }
    for v in values(log, |e| e.tag.clone()) {
        queries.push((format!("tag={v}"), EventQuery { tag: Some(v), ..q() }));
    }
    for v in values(log, |e| e.digest.clone()) {
        queries.push((format!("digest={v}"), EventQuery { digest: Some(v), ..q() }));
    }
    for v in values(log, |e| Some(e.action.as_str().to_owned())) {
        queries.push((format!("action={v}"), EventQuery { action: Some(Action::from(v.as_str())), ..q() }));
    }
    for v in values(log, |e| e.actor.clone()) {
        queries.push((format!("actor={v}"), EventQuery { actor: Some(v), ..q() }));
    }
    for v in values(log, |e| e.client_ip.clone()) {
        queries.push((format!("client_ip={v}"), EventQuery { client_ip: Some(v), ..q() }));
    }
    let times: Vec<Timestamp> = values(log, |e| Some(e.timestamp));
    for v in spread(&times.into_iter().collect(), 3) {
        queries.push((format!("since={v}"), EventQuery { since: Some(v), ..q() }));
        queries.push((format!("until={v}"), EventQuery { until: Some(v), ..q() }));
    }
    let mut out = BTreeMap::new();
    for (label, query) in queries {
        let listing = read_list(&format!("events {label}"), 3, async |p| {
            store.events(&EventQuery { page: p, ..query.clone() }).await
        })
        .await;
        out.insert(label, raws.listing(listing));
    }
    out
}
