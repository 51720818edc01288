//! The read side: every query of the `Storage` trait, answering exactly what the reference
//! store answers, in the same order, with the same cursors (`Cursor::from_key` of the keys
//! documented in `notify_core::query`).
//!
//! Lists read one index range in list order from the cursor's key on, one item more than the
//! page (that extra item only says a next page exists). Lists of live tags cannot know
//! liveness from the index, so they read batches of candidates until the page is full, and
//! decide liveness with the registers of the candidates' links and repositories, read in one
//! query each per batch.

use std::collections::{BTreeMap, BTreeSet};

use mongodb::bson::{Document, doc};
use mongodb::options::FindOptions;
use notify_core::query::{
    DIGEST_PAGE_SIZE, DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag,
    QuarantineQuery, QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary,
    TagHistoryEntry, TagSummary, UnusedItem, UnusedQuery, UnusedWalk,
};
use notify_core::{ContentKind, Digest, LogEntry, PageRequest, RepoRef, StorageError, Tag, Timestamp};

use crate::MongoStore;
use crate::builders::{self, Coll};
use crate::decode::{self, Head, Result};
use crate::error::storage_error;
use crate::liveness::{self, Deleted};

/// `(registry, repository)`.
type RepoKey = (String, String);
/// `(registry, repository, digest)`.
type LinkKey = (String, String, String);

/// The most candidates one batch of a live-tag list reads.
const MAX_BATCH: usize = 5000;

/// A tag document whose register holds a digest.
struct TagDoc {
    repo: RepoKey,
    tag: String,
    head: Head,
    digest: Digest,
    doc: Document,
}

impl TagDoc {
    fn decode(doc: Document) -> Result<Option<Self>> {
        let Some(head) = decode::head(&doc)? else { return Ok(None) };
        let Some(digest) = head.digest.clone() else { return Ok(None) };
        Ok(Some(TagDoc {
            repo: (decode::required(&doc, "registry")?, decode::required(&doc, "repository")?),
            tag: decode::required(&doc, "tag")?,
            head,
            digest,
            doc,
        }))
    }

    fn link_key(&self) -> LinkKey {
        (self.repo.0.clone(), self.repo.1.clone(), self.digest.to_string())
    }
}

/// The key of a newest-first list's cursor: `(micros, id)`; checked before anything is read,
/// so a malformed cursor is refused even where the list is empty.
fn time_cursor(page: &PageRequest) -> Result<Option<(i64, String)>> {
    let Some(cursor) = &page.after else { return Ok(None) };
    let mut key = cursor.to_key(2)?;
    let t = key[0]
        .parse::<i64>()
        .map_err(|_| StorageError::InvalidCursor(cursor.as_str().chars().take(64).collect()))?;
    Ok(Some((t, key.remove(1))))
}

fn empty<T>() -> Page<T> {
    Page { items: Vec::new(), next: None }
}

fn limit_of(page: &PageRequest) -> usize {
    page.effective_limit()
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MongoStore {
    pub(crate) async fn find_docs(
        &self,
        coll: Coll,
        filter: Document,
        sort: Option<Document>,
        projection: Option<Document>,
        limit: Option<usize>,
    ) -> Result<Vec<Document>> {
        let what = coll.base_name();
        let mut options = FindOptions::default();
        options.sort = sort;
        options.projection = projection;
        options.limit = limit.map(as_i64);
        let mut cursor = self
            .collection(coll)
            .find(filter)
            .with_options(options)
            .await
            .map_err(|e| storage_error(&format!("{what} query"), e))?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(|e| storage_error(&format!("{what} query"), e))? {
            out.push(cursor.deserialize_current().map_err(|e| storage_error(&format!("{what} query"), e))?);
        }
        Ok(out)
    }

    async fn find_one_doc(
        &self,
        coll: Coll,
        filter: Document,
        projection: Option<Document>,
    ) -> Result<Option<Document>> {
        let mut docs = self.find_docs(coll, filter, None, projection, Some(1)).await?;
        Ok(docs.pop())
    }

    /// The delete registers of repositories (absent repositories have none).
    async fn repository_deletes(&self, repos: &[RepoKey]) -> Result<BTreeMap<RepoKey, Deleted>> {
        if repos.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut filter = builders::any_repository(repos);
        filter.insert("del", doc! { "$exists": true });
        let docs = self
            .find_docs(
                Coll::Repositories,
                filter,
                None,
                Some(builders::repository_register_projection()),
                None,
            )
            .await?;
        let mut out = BTreeMap::new();
        for d in docs {
            if let Some(del) = decode::deleted(&d, "del")? {
                out.insert((decode::required(&d, "registry")?, decode::required(&d, "repository")?), del);
            }
        }
        Ok(out)
    }

    /// The delete registers of links.
    async fn link_deletes(&self, links: &[LinkKey]) -> Result<BTreeMap<LinkKey, Deleted>> {
        let (filter, projection) = (builders::deleted_links(links), builders::link_register_projection());
        self.link_values(links, filter, projection, |d| decode::deleted(d, "del")).await
    }

    /// When each of `links` was last pulled, for those ever pulled.
    async fn link_pulls(&self, links: &[LinkKey]) -> Result<BTreeMap<LinkKey, Timestamp>> {
        let (filter, projection) = (builders::links_in(links), builders::link_pull_projection());
        self.link_values(links, filter, projection, |d| decode::time(d, "last_pulled")).await
    }

    /// One value of each link `filter` finds among `links`, where it has one.
    async fn link_values<T>(
        &self,
        links: &[LinkKey],
        filter: Document,
        projection: Document,
        value: impl Fn(&Document) -> Result<Option<T>>,
    ) -> Result<BTreeMap<LinkKey, T>> {
        if links.is_empty() {
            return Ok(BTreeMap::new());
        }
        let docs = self.find_docs(Coll::Links, filter, None, Some(projection), None).await?;
        let mut out = BTreeMap::new();
        for d in docs {
            if let Some(v) = value(&d)? {
                let key = (
                    decode::required(&d, "registry")?,
                    decode::required(&d, "repository")?,
                    decode::required(&d, "digest")?,
                );
                out.insert(key, v);
            }
        }
        Ok(out)
    }

    /// The live ones of `tags`, in their order.
    async fn keep_live(
        &self,
        tags: Vec<TagDoc>,
        repo_deletes: Option<&BTreeMap<RepoKey, Deleted>>,
    ) -> Result<Vec<TagDoc>> {
        let fetched;
        let repo_deletes = match repo_deletes {
            Some(r) => r,
            None => {
                let repos: BTreeSet<RepoKey> = tags.iter().map(|t| t.repo.clone()).collect();
                fetched = self.repository_deletes(&repos.into_iter().collect::<Vec<_>>()).await?;
                &fetched
            }
        };
        let links: BTreeSet<LinkKey> = tags.iter().map(TagDoc::link_key).collect();
        let link_deletes = self.link_deletes(&links.into_iter().collect::<Vec<_>>()).await?;
        Ok(tags
            .into_iter()
            .filter(|t| {
                liveness::tag_is_live(
                    &t.head.stamp,
                    link_deletes.get(&t.link_key()),
                    repo_deletes.get(&t.repo),
                )
            })
            .collect())
    }

    /// How many live tags each of `repos` has.
    async fn live_tag_counts(
        &self,
        repos: &[RepoKey],
        repo_deletes: &BTreeMap<RepoKey, Deleted>,
    ) -> Result<BTreeMap<RepoKey, u64>> {
        if repos.is_empty() {
            return Ok(BTreeMap::new());
        }
        let projection = doc! { "registry": 1, "repository": 1, "tag": 1, "head": 1 };
        let docs =
            self.find_docs(Coll::Tags, builders::tag_heads_of(repos), None, Some(projection), None).await?;
        let tags =
            docs.into_iter().map(TagDoc::decode).filter_map(|t| t.transpose()).collect::<Result<Vec<_>>>()?;
        let mut counts = BTreeMap::new();
        for t in self.keep_live(tags, Some(repo_deletes)).await? {
            *counts.entry(t.repo).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Kind and media type of each content record of `digests`.
    async fn kinds(
        &self,
        digests: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, (ContentKind, Option<String>)>> {
        if digests.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list: Vec<&str> = digests.iter().map(String::as_str).collect();
        let docs = self
            .find_docs(
                Coll::Content,
                builders::content_of(&list),
                None,
                Some(builders::content_kind_projection()),
                None,
            )
            .await?;
        docs.iter().map(|d| Ok((decode::required(d, "_id")?, decode::kind_and_media_type(d)?))).collect()
    }

    /// Up to `size` tag documents of `filter` in `order` that hold a digest, and how many
    /// documents were read (fewer than `size`: none are left).
    async fn candidates(
        &self,
        filter: Document,
        order: Document,
        size: usize,
    ) -> Result<(Vec<TagDoc>, usize)> {
        let docs = self.find_docs(Coll::Tags, filter, Some(order), None, Some(size)).await?;
        let fetched = docs.len();
        let tags =
            docs.into_iter().map(TagDoc::decode).filter_map(|t| t.transpose()).collect::<Result<Vec<_>>>()?;
        Ok((tags, fetched))
    }

    /// Reads live tags in list order after `after` until `want` are found or none are left.
    /// `next_filter` builds the candidates' filter after a sort key; `key` gives a candidate's.
    async fn live_tags_from<K: Clone>(
        &self,
        want: usize,
        mut after: Option<K>,
        next_filter: impl Fn(Option<&K>) -> Document,
        order: Document,
        key: impl Fn(&TagDoc) -> K,
        repo_deletes: Option<&BTreeMap<RepoKey, Deleted>>,
    ) -> Result<Vec<TagDoc>> {
        let mut live = Vec::new();
        let mut batch = want;
        loop {
            let (candidates, fetched) =
                self.candidates(next_filter(after.as_ref()), order.clone(), batch).await?;
            if let Some(last) = candidates.last() {
                after = Some(key(last));
            }
            live.extend(self.keep_live(candidates, repo_deletes).await?);
            if live.len() >= want || fetched < batch {
                live.truncate(want);
                return Ok(live);
            }
            batch = (batch * 2).min(MAX_BATCH);
        }
    }

    pub(crate) async fn read_repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>> {
        let key = query.page.after.as_ref().map(|c| c.to_key(2)).transpose()?;
        let limit = limit_of(&query.page);
        let after = key.as_ref().map(|k| (k[0].as_str(), k[1].as_str()));
        let Some(filter) =
            builders::repositories_filter(query.registry.as_deref(), query.name.as_ref(), after)
        else {
            return Ok(empty());
        };
        let projection = doc! { "pushers": 0, "pullers": 0, builders::MARKERS: 0 };
        let docs = self
            .find_docs(
                Coll::Repositories,
                filter,
                Some(builders::repository_order()),
                Some(projection),
                Some(limit + 1),
            )
            .await?;
        let repos: Vec<RepoKey> = docs
            .iter()
            .map(|d| Ok((decode::required(d, "registry")?, decode::required(d, "repository")?)))
            .collect::<Result<_>>()?;
        let mut deletes = BTreeMap::new();
        for (d, key) in docs.iter().zip(&repos) {
            if let Some(del) = decode::deleted(d, "del")? {
                deletes.insert(key.clone(), del);
            }
        }
        let counts = self.live_tag_counts(&repos, &deletes).await?;
        let mut items = Vec::with_capacity(docs.len());
        for (d, key) in docs.iter().zip(&repos) {
            items.push(RepositorySummary {
                registry: key.0.clone(),
                repository: decode::parsed(d, "repository")?,
                tag_count: counts.get(key).copied().unwrap_or(0),
                push_count: decode::count(d, "push_count")?,
                pull_count: decode::count(d, "pull_count")?,
                last_push: decode::time(d, "last_push")?,
                last_pull: decode::time(d, "last_pull")?,
                deleted: liveness::repository_tombstone(decode::stamp(d, "seen")?.as_ref(), deletes.get(key)),
            });
        }
        Ok(Page::from_overfetch(items, limit, |s| vec![s.registry.clone(), s.repository.to_string()]))
    }

    pub(crate) async fn read_tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>> {
        let key = page.after.as_ref().map(|c| c.to_key(1)).transpose()?;
        let limit = limit_of(page);
        let repo_key = (repo.registry.clone(), repo.repository.to_string());
        let deletes = self.repository_deletes(std::slice::from_ref(&repo_key)).await?;
        let live = self
            .live_tags_from(
                limit + 1,
                key.map(|mut k| k.remove(0)),
                |after| builders::tags_filter(repo, after.map(String::as_str)),
                builders::tag_order(),
                |t| t.tag.clone(),
                Some(&deletes),
            )
            .await?;
        let kinds = self.kinds(&live.iter().map(|t| t.digest.to_string()).collect()).await?;
        let mut items = Vec::with_capacity(live.len());
        for t in live {
            let (kind, media_type) =
                kinds.get(t.digest.as_str()).cloned().unwrap_or((ContentKind::Unknown, None));
            items.push(TagSummary {
                tag: decode::parsed(&t.doc, "tag")?,
                digest: t.digest,
                kind,
                media_type,
                pushed_at: t.head.stamp.at,
                pushed_by: t.head.actor,
                push_count: decode::count(&t.doc, "push_count")?,
                pull_count: decode::count(&t.doc, "pull_count")?,
                last_pulled: decode::time(&t.doc, "last_pulled")?,
            });
        }
        Ok(Page::from_overfetch(items, limit, |t| vec![t.tag.to_string()]))
    }

    pub(crate) async fn read_tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>> {
        let limit = limit_of(page);
        let mut after = page.after.as_ref().map(|c| c.to_key(1)).transpose()?.map(|mut k| k.remove(0));
        let mut items = Vec::new();
        let mut batch = limit + 1;
        // The first change read of each tag is its change in force; the rest of its history is
        // skipped by starting the next batch after it.
        loop {
            let filter = builders::tags_at_filter(repo, instant.unix_micros(), after.as_deref());
            let docs = self
                .find_docs(Coll::TagHistory, filter, Some(builders::tags_at_order()), None, Some(batch))
                .await?;
            let fetched = docs.len();
            for d in &docs {
                let tag: String = decode::required(d, "tag")?;
                if after.as_ref().is_some_and(|a| *a >= tag) {
                    continue;
                }
                after = Some(tag.clone());
                let Some(digest) = decode::parsed_opt::<Digest>(d, "d")? else { continue };
                items.push(PastTag {
                    tag: decode::parsed(d, "tag")?,
                    digest,
                    set_at: decode::time(d, "t")?
                        .ok_or_else(|| crate::error::corrupt(format!("history without time: {d}")))?,
                    event_id: decode::required(d, "e")?,
                    actor: decode::string(d, "a")?,
                });
                if items.len() > limit {
                    break;
                }
            }
            if items.len() > limit || fetched < batch {
                return Ok(Page::from_overfetch(items, limit, |t| vec![t.tag.to_string()]));
            }
            batch = (batch * 2).min(MAX_BATCH);
        }
    }

    pub(crate) async fn read_tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>> {
        let limit = limit_of(page);
        let after = time_cursor(page)?;
        let filter = builders::tag_history_filter(repo, tag, after.as_ref().map(|(t, e)| (*t, e.as_str())));
        // Two more than the page: one tells whether a next page exists, the other is the
        // change before the page's last, whose digest that change replaced.
        let docs = self
            .find_docs(Coll::TagHistory, filter, Some(builders::tag_history_order()), None, Some(limit + 2))
            .await?;
        let digests =
            docs.iter().map(|d| decode::parsed_opt::<Digest>(d, "d")).collect::<Result<Vec<_>>>()?;
        let mut items = Vec::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate().take(limit + 1) {
            items.push(TagHistoryEntry {
                at: decode::time(d, "t")?
                    .ok_or_else(|| crate::error::corrupt(format!("history without time: {d}")))?,
                event_id: decode::required(d, "e")?,
                actor: decode::string(d, "a")?,
                digest: digests[i].clone(),
                previous: digests.get(i + 1).cloned().flatten(),
            });
        }
        Ok(Page::from_overfetch(items, limit, |e| vec![e.at.unix_micros().to_string(), e.event_id.clone()]))
    }

    pub(crate) async fn read_digest(&self, digest: &Digest) -> Result<Option<DigestInfo>> {
        let content = self.find_one_doc(Coll::Content, doc! { "_id": digest.as_str() }, None).await?;
        let first = PageRequest::first(DIGEST_PAGE_SIZE);
        let repositories = self.read_digest_locations(digest, &first).await?;
        if content.is_none() && repositories.items.is_empty() {
            return Ok(None);
        }
        let referenced_by = self.read_digest_referrers(digest, &first).await?;
        let (kind, media_type) = match &content {
            Some(c) => decode::kind_and_media_type(c)?,
            None => (ContentKind::Unknown, None),
        };
        let size = match &content {
            Some(c) => decode::int(c, "size")?
                .map(|s| u64::try_from(s).map_err(|_| crate::error::corrupt(format!("content size {s}"))))
                .transpose()?,
            None => None,
        };
        Ok(Some(DigestInfo {
            digest: digest.clone(),
            kind,
            media_type,
            size,
            artifact_type: content
                .as_ref()
                .map(|c| decode::string(c, "artifact_type"))
                .transpose()?
                .flatten(),
            first_seen: content.as_ref().map(|c| decode::time(c, "first_seen")).transpose()?.flatten(),
            repositories: repositories.items,
            repositories_next: repositories.next,
            references: content.as_ref().map(decode::references).transpose()?.unwrap_or_default(),
            referenced_by: referenced_by.items,
            referenced_by_next: referenced_by.next,
        }))
    }

    /// A page of the repositories holding `digest`: the `digest` index of links in order.
    pub(crate) async fn read_digest_locations(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>> {
        let after = page.after.as_ref().map(|c| c.to_key(2)).transpose()?;
        let after = after.as_ref().map(|k| (k[0].as_str(), k[1].as_str()));
        let limit = page.effective_limit();
        let links = self
            .find_docs(
                Coll::Links,
                builders::links_of_digest(digest, after),
                Some(builders::repository_order()),
                None,
                Some(limit + 1),
            )
            .await?;
        let repos: Vec<RepoKey> = links
            .iter()
            .map(|d| Ok((decode::required(d, "registry")?, decode::required(d, "repository")?)))
            .collect::<Result<_>>()?;
        let repo_deletes = self.repository_deletes(&repos).await?;
        let mut live_tags: BTreeMap<RepoKey, Vec<Tag>> = BTreeMap::new();
        if !repos.is_empty() {
            let projection = doc! { "registry": 1, "repository": 1, "tag": 1, "head": 1 };
            let docs = self
                .find_docs(
                    Coll::Tags,
                    builders::tags_pointing_at(&repos, digest),
                    None,
                    Some(projection),
                    None,
                )
                .await?;
            let tags = docs
                .into_iter()
                .map(TagDoc::decode)
                .filter_map(|t| t.transpose())
                .collect::<Result<Vec<_>>>()?;
            for t in self.keep_live(tags, Some(&repo_deletes)).await? {
                live_tags.entry(t.repo).or_default().push(
                    t.tag
                        .parse()
                        .map_err(|e| crate::error::corrupt(format!("stored tag {:?}: {e}", t.tag)))?,
                );
            }
        }
        let mut repositories = Vec::with_capacity(links.len());
        for (link, key) in links.iter().zip(&repos) {
            let (live, deleted) = liveness::link_liveness(
                decode::stamp(link, "seen")?.as_ref(),
                decode::deleted(link, "del")?.as_ref(),
                repo_deletes.get(key),
            );
            let mut tags = live_tags.remove(key).unwrap_or_default();
            tags.sort();
            repositories.push(DigestLocation {
                registry: key.0.clone(),
                repository: decode::parsed(link, "repository")?,
                live,
                first_seen: decode::time(link, "first_seen")?,
                deleted,
                tags,
                pull_count: decode::count(link, "pull_count")?,
                last_pulled: decode::time(link, "last_pulled")?,
            });
        }
        Ok(Page::from_overfetch(repositories, limit, DigestLocation::cursor_key))
    }

    /// A page of the manifests referencing `digest`, each of which may reference it under more
    /// than one kind.
    pub(crate) async fn read_digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>> {
        let after = page.after.as_ref().map(Referrer::from_cursor).transpose()?;
        let limit = page.effective_limit();
        // From the cursor's manifest on, which may have no referrer left after the cursor:
        // one manifest more than the page, and every other one gives at least one referrer.
        let parents = self
            .find_docs(
                Coll::Content,
                builders::referrers_of(digest, after.as_ref().map(|a| a.digest.as_str())),
                Some(builders::referrer_order()),
                Some(builders::references_projection()),
                Some(limit + 2),
            )
            .await?;
        let mut referrers = BTreeSet::new();
        for parent in &parents {
            let parent_digest: Digest = decode::parsed(parent, "_id")?;
            for r in decode::references(parent)? {
                let referrer = Referrer { digest: parent_digest.clone(), kind: r.kind };
                if r.digest == *digest && after.as_ref().is_none_or(|a| referrer > *a) {
                    referrers.insert(referrer);
                }
            }
        }
        Ok(Page::from_overfetch(referrers.into_iter().take(limit + 1).collect(), limit, Referrer::cursor_key))
    }

    pub(crate) async fn read_events(&self, query: &EventQuery) -> Result<Page<LogEntry>> {
        let limit = limit_of(&query.page);
        let after = time_cursor(&query.page)?;
        let filter = builders::events_filter(query, after.as_ref().map(|(t, id)| (*t, id.as_str())));
        let docs = self
            .find_docs(Coll::Events, filter, Some(builders::newest_first("at")), None, Some(limit + 1))
            .await?;
        let items = docs.iter().map(decode::log_entry).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit, |e| vec![e.timestamp.unix_micros().to_string(), e.id.clone()]))
    }

    pub(crate) async fn read_repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>> {
        let Some(d) = self.find_one_doc(Coll::Repositories, builders::repo_key(repo), None).await? else {
            return Ok(None);
        };
        let key = (repo.registry.clone(), repo.repository.to_string());
        let mut deletes = BTreeMap::new();
        if let Some(del) = decode::deleted(&d, "del")? {
            deletes.insert(key.clone(), del);
        }
        let tag_count =
            self.live_tag_counts(std::slice::from_ref(&key), &deletes).await?.get(&key).copied().unwrap_or(0);
        let links = self
            .find_docs(
                Coll::Links,
                builders::links_of_repository(repo),
                None,
                Some(builders::link_register_projection()),
                None,
            )
            .await?;
        let mut live_digests = 0;
        for link in &links {
            let seen = decode::stamp(link, "seen")?;
            let del = decode::deleted(link, "del")?;
            if liveness::link_liveness(seen.as_ref(), del.as_ref(), deletes.get(&key)).0 {
                live_digests += 1;
            }
        }
        Ok(Some(RepositoryStats {
            registry: repo.registry.clone(),
            repository: repo.repository.clone(),
            tag_count,
            live_digests,
            push_count: decode::count(&d, "push_count")?,
            pull_count: decode::count(&d, "pull_count")?,
            first_push: decode::time(&d, "first_push")?,
            last_push: decode::time(&d, "last_push")?,
            first_pull: decode::time(&d, "first_pull")?,
            last_pull: decode::time(&d, "last_pull")?,
            pushers: decode::sorted_strings(&d, "pushers")?,
            pullers: decode::sorted_strings(&d, "pullers")?,
            deleted: liveness::repository_tombstone(decode::stamp(&d, "seen")?.as_ref(), deletes.get(&key)),
        }))
    }

    /// Walks the live tags after the cursor in batches, feeding each batch's tags with their
    /// use to the page's [`UnusedWalk`] until it needs no more; only the kept tags' media
    /// types are read.
    pub(crate) async fn read_unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>> {
        let key = query.page.after.as_ref().map(|c| c.to_key(3)).transpose()?;
        if builders::inventory_filter(&query.filter, None).is_none() {
            return Ok(empty());
        }
        let mut after = key.map(|k| (k[0].clone(), k[1].clone(), k[2].clone()));
        let mut walk = UnusedWalk::new(query);
        let mut batch = limit_of(&query.page) + 1;
        'walk: loop {
            let size = batch.min(walk.remaining()).max(1);
            let filter = builders::inventory_filter(
                &query.filter,
                after.as_ref().map(|(r, n, t): &LinkKey| (r.as_str(), n.as_str(), t.as_str())),
            )
            .unwrap_or_default();
            let (candidates, fetched) = self.candidates(filter, builders::inventory_order(), size).await?;
            if let Some(last) = candidates.last() {
                after = Some((last.repo.0.clone(), last.repo.1.clone(), last.tag.clone()));
            }
            let live = self.keep_live(candidates, None).await?;
            let links: BTreeSet<LinkKey> = live.iter().map(TagDoc::link_key).collect();
            let pulls = self.link_pulls(&links.into_iter().collect::<Vec<_>>()).await?;
            for t in &live {
                let pushed_at = t.head.stamp.at;
                let last_pulled = decode::time(&t.doc, "last_pulled")?.max(pulls.get(&t.link_key()).copied());
                let more = if walk.lists(pushed_at, last_pulled) {
                    let item = InventoryItem {
                        registry: t.repo.0.clone(),
                        repository: decode::parsed(&t.doc, "repository")?,
                        tag: decode::parsed(&t.doc, "tag")?,
                        digest: t.digest.clone(),
                        media_type: None,
                    };
                    walk.take(UnusedItem { item, pushed_at, last_pulled })
                } else {
                    walk.pass(vec![t.repo.0.clone(), t.repo.1.clone(), t.tag.clone()])
                };
                if !more {
                    break 'walk;
                }
            }
            if fetched < size {
                break;
            }
            batch = (batch * 2).min(MAX_BATCH);
        }
        let mut page = walk.finish();
        let kinds = self.kinds(&page.items.iter().map(|u| u.item.digest.to_string()).collect()).await?;
        for u in &mut page.items {
            u.item.media_type = kinds.get(u.item.digest.as_str()).and_then(|(_, m)| m.clone());
        }
        Ok(page)
    }

    pub(crate) async fn read_inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>> {
        let limit = limit_of(&query.page);
        let key = query.page.after.as_ref().map(|c| c.to_key(3)).transpose()?;
        // Only the repository name can rule everything out, whatever the cursor: checked once.
        if builders::inventory_filter(&query.filter, None).is_none() {
            return Ok(empty());
        }
        let live = self
            .live_tags_from(
                limit + 1,
                key.map(|k| (k[0].clone(), k[1].clone(), k[2].clone())),
                |after| {
                    let after = after.map(|(r, n, t)| (r.as_str(), n.as_str(), t.as_str()));
                    builders::inventory_filter(&query.filter, after).unwrap_or_default()
                },
                builders::inventory_order(),
                |t| (t.repo.0.clone(), t.repo.1.clone(), t.tag.clone()),
                None,
            )
            .await?;
        let items = self.inventory_items(&live).await?;
        Ok(Page::from_overfetch(items, limit, InventoryItem::sort_key))
    }

    /// The inventory's items of live tags, with their digests' media types.
    async fn inventory_items(&self, live: &[TagDoc]) -> Result<Vec<InventoryItem>> {
        let kinds = self.kinds(&live.iter().map(|t| t.digest.to_string()).collect()).await?;
        live.iter()
            .map(|t| {
                Ok(InventoryItem {
                    registry: t.repo.0.clone(),
                    repository: decode::parsed(&t.doc, "repository")?,
                    tag: decode::parsed(&t.doc, "tag")?,
                    media_type: kinds.get(t.digest.as_str()).and_then(|(_, m)| m.clone()),
                    digest: t.digest.clone(),
                })
            })
            .collect()
    }

    pub(crate) async fn read_quarantine(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>> {
        let limit = limit_of(page);
        let after = time_cursor(page)?;
        let filter = builders::quarantine_filter(after.as_ref().map(|(t, k)| (*t, k.as_str())));
        let docs = self
            .find_docs(
                Coll::Quarantine,
                filter,
                Some(builders::newest_first("received_at")),
                None,
                Some(limit + 1),
            )
            .await?;
        let items = docs.iter().map(decode::quarantine_record).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit, |r| {
            vec![r.received_at.unix_micros().to_string(), r.key.clone()]
        }))
    }
}
