//! `MemoryStore`: the reference implementation of [`Storage`].
//!
//! Written for obviousness, not speed: plain maps under one lock, every read computed from the
//! stored registers on demand. Its answers define what every backend must answer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::command::{Content, ContentReference, Count, Plan, RepoRef, Stamp};
use crate::query::{
    DIGEST_PAGE_SIZE, DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, LiveTagFilter,
    Page, PastTag, QuarantineQuery, QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats,
    RepositorySummary, TagHistoryEntry, TagSummary, Tombstone, UnusedItem, UnusedQuery, UnusedWalk,
};
use crate::{
    ApplyOutcome, Command, ContentKind, Digest, LogEntry, PageRequest, ReferenceKind, RepositoryName,
    Storage, StorageError, Tag, Timestamp,
};

/// The reference [`Storage`]: complete, in memory, obviously right.
///
/// Use it in tests, in embedded tools that need no durability, and as the model a new backend
/// is checked against.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

type RepoKey = (String, RepositoryName);

#[derive(Debug, Default)]
struct State {
    log: BTreeMap<String, LogEntry>,
    content: BTreeMap<Digest, ContentState>,
    links: BTreeMap<(RepoKey, Digest), LinkState>,
    tags: BTreeMap<(RepoKey, Tag), TagState>,
    repos: BTreeMap<RepoKey, RepoState>,
    quarantine: BTreeMap<String, QuarantineRecord>,
}

#[derive(Debug)]
struct ContentState {
    kind: ContentKind,
    media_type: Option<String>,
    size: Option<u64>,
    artifact_type: Option<String>,
    /// By (digest, kind); a manifest names each reference once, but two events may disagree on
    /// the declared media type or size, which then merge to the greatest.
    references: BTreeMap<(Digest, ReferenceKind), (Option<String>, u64)>,
    first_seen: Timestamp,
}

/// A last-writer-wins register of a delete.
#[derive(Debug, Clone)]
struct Deleted {
    stamp: Stamp,
    actor: Option<String>,
}

impl Deleted {
    fn tombstone(&self) -> Tombstone {
        Tombstone { at: self.stamp.at, event_id: self.stamp.event_id.clone(), actor: self.actor.clone() }
    }
}

fn keep_latest(slot: &mut Option<Deleted>, stamp: &Stamp, actor: &Option<String>) {
    if slot.as_ref().is_none_or(|d| d.stamp < *stamp) {
        *slot = Some(Deleted { stamp: stamp.clone(), actor: actor.clone() });
    }
}

fn max_stamp(slot: &mut Option<Stamp>, stamp: &Stamp) {
    if slot.as_ref().is_none_or(|s| s < stamp) {
        *slot = Some(stamp.clone());
    }
}

fn min_time(slot: &mut Option<Timestamp>, t: Timestamp) {
    *slot = Some(slot.map_or(t, |s| s.min(t)));
}

fn max_time(slot: &mut Option<Timestamp>, t: Timestamp) {
    *slot = Some(slot.map_or(t, |s| s.max(t)));
}

#[derive(Debug, Default)]
struct LinkState {
    first_seen: Option<Timestamp>,
    last_seen: Option<Stamp>,
    deleted: Option<Deleted>,
    pull_count: u64,
    last_pulled: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct TagState {
    /// Every set (`Some`) and delete (`None`), by stamp.
    history: BTreeMap<Stamp, (Option<Digest>, Option<String>)>,
    push_count: u64,
    pull_count: u64,
    last_pulled: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct RepoState {
    last_seen: Option<Stamp>,
    deleted: Option<Deleted>,
    push_count: u64,
    pull_count: u64,
    first_push: Option<Timestamp>,
    last_push: Option<Timestamp>,
    first_pull: Option<Timestamp>,
    last_pull: Option<Timestamp>,
    pushers: BTreeSet<String>,
    pullers: BTreeSet<String>,
}

fn key(repo: &RepoRef) -> RepoKey {
    (repo.registry.clone(), repo.repository.clone())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied plan behind (plans are
        // applied to the maps only after the dedup check, with no fallible step), so the
        // state is still consistent and poisoning can be ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn run(&mut self, command: &Command) {
        match command {
            Command::UpsertContent(c) => self.upsert_content(c),
            // How the digest was observed (push, mount, pull) stays in the log; for liveness
            // every observation counts the same.
            Command::LinkRepository { repo, digest, stamp, .. } => {
                let link = self.links.entry((key(repo), digest.clone())).or_default();
                min_time(&mut link.first_seen, stamp.at);
                max_stamp(&mut link.last_seen, stamp);
                let repo_state = self.repos.entry(key(repo)).or_default();
                max_stamp(&mut repo_state.last_seen, stamp);
            }
            Command::SetTag { repo, tag, digest, stamp, actor } => {
                let t = self.tags.entry((key(repo), tag.clone())).or_default();
                t.history.insert(stamp.clone(), (Some(digest.clone()), actor.clone()));
                max_stamp(&mut self.repos.entry(key(repo)).or_default().last_seen, stamp);
            }
            Command::DeleteTag { repo, tag, stamp, actor } => {
                let t = self.tags.entry((key(repo), tag.clone())).or_default();
                t.history.insert(stamp.clone(), (None, actor.clone()));
                self.repos.entry(key(repo)).or_default();
            }
            Command::DeleteContent { repo, digest, stamp, actor, .. } => {
                let link = self.links.entry((key(repo), digest.clone())).or_default();
                keep_latest(&mut link.deleted, stamp, actor);
                self.repos.entry(key(repo)).or_default();
            }
            Command::DeleteRepository { repo, stamp, actor } => {
                keep_latest(&mut self.repos.entry(key(repo)).or_default().deleted, stamp, actor);
            }
            Command::CountPush(c) => self.count(c, true),
            Command::CountPull(c) => self.count(c, false),
        }
    }

    fn upsert_content(&mut self, c: &Content) {
        let state = self.content.entry(c.digest.clone()).or_insert_with(|| ContentState {
            kind: ContentKind::Unknown,
            media_type: None,
            size: None,
            artifact_type: None,
            references: BTreeMap::new(),
            first_seen: c.seen,
        });
        if (c.kind, &c.media_type) > (state.kind, &state.media_type) {
            state.kind = c.kind;
            state.media_type = c.media_type.clone();
        }
        state.size = state.size.max(c.size);
        state.artifact_type = state.artifact_type.clone().max(c.artifact_type.clone());
        for r in &c.references {
            let slot = state.references.entry((r.digest.clone(), r.kind)).or_insert((None, 0));
            slot.0 = slot.0.clone().max(r.media_type.clone());
            slot.1 = slot.1.max(r.size);
        }
        state.first_seen = state.first_seen.min(c.seen);
    }

    fn count(&mut self, c: &Count, push: bool) {
        let r = self.repos.entry(key(&c.repo)).or_default();
        if push {
            r.push_count += 1;
            min_time(&mut r.first_push, c.at);
            max_time(&mut r.last_push, c.at);
            r.pushers.extend(c.actor.clone());
        } else {
            r.pull_count += 1;
            min_time(&mut r.first_pull, c.at);
            max_time(&mut r.last_pull, c.at);
            r.pullers.extend(c.actor.clone());
        }
        if let Some(tag) = &c.tag {
            let t = self.tags.entry((key(&c.repo), tag.clone())).or_default();
            if push {
                t.push_count += 1;
            } else {
                t.pull_count += 1;
                max_time(&mut t.last_pulled, c.at);
            }
        }
        if let (false, Some(digest)) = (push, &c.digest) {
            let link = self.links.entry((key(&c.repo), digest.clone())).or_default();
            link.pull_count += 1;
            max_time(&mut link.last_pulled, c.at);
        }
    }

    /// The delete that hides something last observed at `seen` in `repo`, if any.
    fn hiding_delete(&self, repo: &RepoKey, link_deleted: Option<&Deleted>, seen: &Stamp) -> Option<Deleted> {
        let repo_deleted = self.repos.get(repo).and_then(|r| r.deleted.as_ref());
        [link_deleted, repo_deleted]
            .into_iter()
            .flatten()
            .filter(|d| d.stamp > *seen)
            .max_by(|a, b| a.stamp.cmp(&b.stamp))
            .cloned()
    }

    fn link_liveness(&self, repo: &RepoKey, link: &LinkState) -> (bool, Option<Deleted>) {
        match &link.last_seen {
            None => (false, link.deleted.clone()),
            Some(seen) => match self.hiding_delete(repo, link.deleted.as_ref(), seen) {
                None => (true, None),
                Some(d) => (false, Some(d)),
            },
        }
    }

    /// The digest a tag points at now, with its set stamp and actor, if the tag is live.
    fn live_tag(&self, repo: &RepoKey, tag: &TagState) -> Option<(Digest, Stamp, Option<String>)> {
        let (stamp, (digest, actor)) = tag.history.last_key_value()?;
        let digest = digest.clone()?;
        let link_deleted = self.links.get(&(repo.clone(), digest.clone())).and_then(|l| l.deleted.as_ref());
        if self.hiding_delete(repo, link_deleted, stamp).is_some() {
            return None;
        }
        Some((digest, stamp.clone(), actor.clone()))
    }

    fn live_tags_of<'a>(
        &'a self,
        repo: &'a RepoKey,
    ) -> impl Iterator<Item = (&'a Tag, &'a TagState, Digest, Stamp, Option<String>)> + 'a {
        self.tags.range((repo.clone(), min_tag())..).take_while(move |((r, _), _)| r == repo).filter_map(
            move |((_, tag), state)| self.live_tag(repo, state).map(|(d, s, a)| (tag, state, d, s, a)),
        )
    }

    /// Every live tag that passes `filter`, in inventory order, with its use.
    fn live_items<'a>(&'a self, filter: &'a LiveTagFilter) -> impl Iterator<Item = UnusedItem> + 'a {
        let repos = self.repos.keys().filter(|(r, n)| filter.matches_repository(r, n));
        repos.flat_map(move |k| {
            let live = self.live_tags_of(k).filter(|(tag, ..)| filter.tag.as_ref().is_none_or(|t| t == *tag));
            live.map(move |(tag, tag_state, digest, stamp, _)| {
                let link_pulled = self.links.get(&(k.clone(), digest.clone())).and_then(|l| l.last_pulled);
                UnusedItem {
                    item: InventoryItem {
                        registry: k.0.clone(),
                        repository: k.1.clone(),
                        tag: tag.clone(),
                        media_type: self.content.get(&digest).and_then(|c| c.media_type.clone()),
                        digest,
                    },
                    pushed_at: stamp.at,
                    last_pulled: tag_state.last_pulled.max(link_pulled),
                }
            })
        })
    }

    fn repo_deleted(&self, r: &RepoState) -> Option<Tombstone> {
        r.deleted
            .as_ref()
            .filter(|d| r.last_seen.as_ref().is_none_or(|seen| d.stamp > *seen))
            .map(Deleted::tombstone)
    }

    /// A page of the repositories holding `digest`; the links' map is ordered by repository
    /// first, which is the list's order.
    fn locations_of(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        let locations = self.links.iter().filter(|((_, d), _)| d == digest).map(|((repo, _), link)| {
            let (live, deleted) = self.link_liveness(repo, link);
            let mut tags: Vec<Tag> = self
                .live_tags_of(repo)
                .filter(|(_, _, d, _, _)| d == digest)
                .map(|(tag, ..)| tag.clone())
                .collect();
            tags.sort();
            DigestLocation {
                registry: repo.0.clone(),
                repository: repo.1.clone(),
                live,
                first_seen: link.first_seen,
                deleted: deleted.as_ref().map(Deleted::tombstone),
                tags,
                pull_count: link.pull_count,
                last_pulled: link.last_pulled,
            }
        });
        paginate(locations, page, 2, DigestLocation::cursor_key, |l, c| {
            Ok(after_asc(&[&l.registry, l.repository.as_str()], c))
        })
    }

    /// A page of the manifests referencing `digest`.
    fn referrers_of(&self, digest: &Digest, page: &PageRequest) -> Result<Page<Referrer>, StorageError> {
        let after = page.after.as_ref().map(Referrer::from_cursor).transpose()?;
        let referrers: BTreeSet<Referrer> = self
            .content
            .iter()
            .flat_map(|(parent, c)| {
                c.references
                    .keys()
                    .filter(|(d, _)| d == digest)
                    .map(|(_, kind)| Referrer { digest: parent.clone(), kind: *kind })
            })
            .filter(|r| after.as_ref().is_none_or(|a| r > a))
            .collect();
        let limit = page.effective_limit();
        Ok(Page::from_overfetch(referrers.into_iter().take(limit + 1).collect(), limit, Referrer::cursor_key))
    }

    fn live_digest_count(&self, repo: &RepoKey) -> u64 {
        self.links.iter().filter(|((r, _), link)| r == repo && self.link_liveness(r, link).0).count() as u64
    }
}

fn min_tag() -> Tag {
    // "0" sorts before every tag's first character ([A-Za-z0-9_]) except itself, which
    // `range` includes; it is a valid tag, so this cannot fail.
    "0".parse().unwrap_or_else(|_| unreachable!())
}

fn micros_key(t: Timestamp) -> String {
    t.unix_micros().to_string()
}

fn parse_micros(s: &str, cursor: &str) -> Result<i64, StorageError> {
    s.parse().map_err(|_| StorageError::InvalidCursor(cursor.chars().take(64).collect()))
}

/// Keeps the items strictly after the cursor (in list order) and builds the page.
fn paginate<T>(
    items: impl Iterator<Item = T>,
    page: &PageRequest,
    key_len: usize,
    sort_key: impl Fn(&T) -> Vec<String>,
    after: impl Fn(&T, &[String]) -> Result<bool, StorageError>,
) -> Result<Page<T>, StorageError> {
    let cursor = page.after.as_ref().map(|c| c.to_key(key_len)).transpose()?;
    let limit = page.effective_limit();
    let mut out = Vec::new();
    for item in items {
        if let Some(c) = &cursor {
            if !after(&item, c)? {
                continue;
            }
        }
        out.push(item);
        if out.len() > limit {
            break;
        }
    }
    Ok(Page::from_overfetch(out, limit, sort_key))
}

/// Ascending string keys: is `have` strictly after `cursor`?
fn inventory_after(i: &InventoryItem, cursor: &[String]) -> bool {
    after_asc(&[&i.registry, i.repository.as_str(), i.tag.as_str()], cursor)
}

fn after_asc(have: &[&str], cursor: &[String]) -> bool {
    have.iter().copied().cmp(cursor.iter().map(String::as_str)) == std::cmp::Ordering::Greater
}

/// Checks a cursor of a `(micros, id)` list up front, so that a malformed one is refused even
/// when the list has no item to compare it with.
fn check_time_cursor(page: &PageRequest) -> Result<(), StorageError> {
    if let Some(cursor) = &page.after {
        parse_micros(&cursor.to_key(2)?[0], cursor.as_str())?;
    }
    Ok(())
}

/// Descending `(micros, id)` keys: is `(t, id)` strictly after `cursor`?
fn after_desc_time(t: Timestamp, id: &str, cursor: &[String], raw: &str) -> Result<bool, StorageError> {
    let c = (parse_micros(&cursor[0], raw)?, cursor[1].as_str());
    Ok((t.unix_micros(), id) < c)
}

#[async_trait]
impl Storage for MemoryStore {
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        let mut state = self.lock();
        if state.log.contains_key(&plan.entry.id) {
            return Ok(ApplyOutcome::Duplicate);
        }
        state.log.insert(plan.entry.id.clone(), plan.entry.clone());
        for command in &plan.commands {
            state.run(command);
        }
        Ok(ApplyOutcome::Applied)
    }

    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        let mut state = self.lock();
        if state.quarantine.contains_key(&record.key) {
            return Ok(ApplyOutcome::Duplicate);
        }
        state.quarantine.insert(record.key.clone(), record.clone());
        Ok(ApplyOutcome::Applied)
    }

    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }

    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError> {
        let state = self.lock();
        let items = state
            .repos
            .iter()
            .filter(|((registry, name), _)| {
                query.registry.as_ref().is_none_or(|r| r == registry)
                    && query.name.as_ref().is_none_or(|m| m.matches(name.as_str()))
            })
            .map(|(k, r)| RepositorySummary {
                registry: k.0.clone(),
                repository: k.1.clone(),
                tag_count: state.live_tags_of(k).count() as u64,
                push_count: r.push_count,
                pull_count: r.pull_count,
                last_push: r.last_push,
                last_pull: r.last_pull,
                deleted: state.repo_deleted(r),
            });
        paginate(
            items,
            &query.page,
            2,
            |s| vec![s.registry.clone(), s.repository.to_string()],
            |s, c| Ok(after_asc(&[&s.registry, s.repository.as_str()], c)),
        )
    }

    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError> {
        let state = self.lock();
        let k = key(repo);
        let items = state.live_tags_of(&k).map(|(tag, t, digest, stamp, actor)| {
            let content = state.content.get(&digest);
            TagSummary {
                tag: tag.clone(),
                kind: content.map_or(ContentKind::Unknown, |c| c.kind),
                media_type: content.and_then(|c| c.media_type.clone()),
                digest,
                pushed_at: stamp.at,
                pushed_by: actor,
                push_count: t.push_count,
                pull_count: t.pull_count,
                last_pulled: t.last_pulled,
            }
        });
        paginate(items, page, 1, |t| vec![t.tag.to_string()], |t, c| Ok(after_asc(&[t.tag.as_str()], c)))
    }

    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        let state = self.lock();
        let k = key(repo);
        let tags = state.tags.range((k.clone(), min_tag())..).take_while(|((r, _), _)| *r == k);
        let items = tags.filter_map(|((_, tag), t)| {
            // The history is in `(at, event id)` order: the last change at or before the instant.
            let (stamp, (digest, actor)) = t.history.iter().rev().find(|(s, _)| s.at <= instant)?;
            Some(PastTag {
                tag: tag.clone(),
                digest: digest.clone()?,
                set_at: stamp.at,
                event_id: stamp.event_id.clone(),
                actor: actor.clone(),
            })
        });
        paginate(items, page, 1, |t| vec![t.tag.to_string()], |t, c| Ok(after_asc(&[t.tag.as_str()], c)))
    }

    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        check_time_cursor(page)?;
        let state = self.lock();
        let Some(t) = state.tags.get(&(key(repo), tag.clone())) else {
            return Ok(Page { items: Vec::new(), next: None });
        };
        let entries: Vec<_> = t.history.iter().collect();
        let items = entries.iter().enumerate().rev().map(|(i, (stamp, (digest, actor)))| TagHistoryEntry {
            at: stamp.at,
            event_id: stamp.event_id.clone(),
            actor: actor.clone(),
            digest: digest.clone(),
            previous: i.checked_sub(1).and_then(|p| entries[p].1.0.clone()),
        });
        let raw = page.after.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
        paginate(
            items,
            page,
            2,
            |e| vec![micros_key(e.at), e.event_id.clone()],
            |e, c| after_desc_time(e.at, &e.event_id, c, &raw),
        )
    }

    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        let state = self.lock();
        let content = state.content.get(digest);
        let first = PageRequest::first(DIGEST_PAGE_SIZE);
        let repositories = state.locations_of(digest, &first)?;
        if content.is_none() && repositories.items.is_empty() {
            return Ok(None);
        }
        let referenced_by = state.referrers_of(digest, &first)?;
        Ok(Some(DigestInfo {
            digest: digest.clone(),
            kind: content.map_or(ContentKind::Unknown, |c| c.kind),
            media_type: content.and_then(|c| c.media_type.clone()),
            size: content.and_then(|c| c.size),
            artifact_type: content.and_then(|c| c.artifact_type.clone()),
            first_seen: content.map(|c| c.first_seen),
            repositories: repositories.items,
            repositories_next: repositories.next,
            references: content
                .map(|c| {
                    c.references
                        .iter()
                        .map(|((d, kind), (media_type, size))| ContentReference {
                            digest: d.clone(),
                            kind: *kind,
                            media_type: media_type.clone(),
                            size: *size,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            referenced_by: referenced_by.items,
            referenced_by_next: referenced_by.next,
        }))
    }

    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        self.lock().locations_of(digest, page)
    }

    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        self.lock().referrers_of(digest, page)
    }

    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        check_time_cursor(&query.page)?;
        let state = self.lock();
        let mut matching: Vec<&LogEntry> = state.log.values().filter(|e| query.matches(e)).collect();
        matching.sort_by(|a, b| (b.timestamp, &b.id).cmp(&(a.timestamp, &a.id)));
        let raw = query.page.after.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
        paginate(
            matching.into_iter().cloned(),
            &query.page,
            2,
            |e| vec![micros_key(e.timestamp), e.id.clone()],
            |e, c| after_desc_time(e.timestamp, &e.id, c, &raw),
        )
    }

    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        let state = self.lock();
        let k = key(repo);
        let Some(r) = state.repos.get(&k) else { return Ok(None) };
        Ok(Some(RepositoryStats {
            registry: k.0.clone(),
            repository: k.1.clone(),
            tag_count: state.live_tags_of(&k).count() as u64,
            live_digests: state.live_digest_count(&k),
            push_count: r.push_count,
            pull_count: r.pull_count,
            first_push: r.first_push,
            last_push: r.last_push,
            first_pull: r.first_pull,
            last_pull: r.last_pull,
            pushers: r.pushers.iter().cloned().collect(),
            pullers: r.pullers.iter().cloned().collect(),
            deleted: state.repo_deleted(r),
        }))
    }

    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
        let state = self.lock();
        let items = state.live_items(&query.filter).map(|u| u.item);
        paginate(items, &query.page, 3, InventoryItem::sort_key, |i, c| Ok(inventory_after(i, c)))
    }

    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        let state = self.lock();
        let cursor = query.page.after.as_ref().map(|c| c.to_key(3)).transpose()?;
        let mut walk = UnusedWalk::new(query);
        let mut live = state
            .live_items(&query.filter)
            .filter(|u| cursor.as_ref().is_none_or(|c| inventory_after(&u.item, c)));
        while walk.wants_more() {
            let Some(tag) = live.next() else { break };
            walk.take(tag);
        }
        Ok(walk.finish())
    }

    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError> {
        check_time_cursor(page)?;
        let state = self.lock();
        let mut records: Vec<&QuarantineRecord> = state.quarantine.values().collect();
        records.sort_by(|a, b| (b.received_at, &b.key).cmp(&(a.received_at, &a.key)));
        let raw = page.after.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
        paginate(
            records.into_iter().cloned(),
            page,
            2,
            |r| vec![micros_key(r.received_at), r.key.clone()],
            |r, c| after_desc_time(r.received_at, &r.key, c, &raw),
        )
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError> {
        let mut state = self.lock();
        let was = state.log.len();
        state.log.retain(|_, entry| entry.timestamp >= before);
        Ok((was - state.log.len()) as u64)
    }
}
