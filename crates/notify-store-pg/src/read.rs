//! Reads: every query of the `Storage` trait, answered as the reference store answers it.
//!
//! Liveness is read from the flags and counts that migration 4's triggers keep on write
//! where a list is filtered or counted by it (the `live_tags` and `live_links` views), and
//! decided in Rust, mirroring the reference store line by
//! line, where a tombstone has to be chosen for display (`DigestLocation::deleted`,
//! `deleted` of repositories). Cursors are the core's `Cursor::from_key` encoding of the same
//! sort keys, so a cursor from any backend works here.

use chrono::{DateTime, Utc};
use notify_core::command::ContentReference;
use notify_core::query::{
    DIGEST_PAGE_SIZE, DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, LiveTagFilter,
    NameMatch, PastTag, QuarantineQuery, QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats,
    RepositorySummary, TagHistoryEntry, TagSummary, Tombstone, UnusedItem, UnusedQuery, UnusedWalk,
};
use notify_core::{
    Action, ContentKind, Cursor, Digest, LogEntry, Page, PageRequest, ReferenceKind, RepoRef, Stamp,
    StorageError, Tag, Timestamp,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PgStore;
use crate::error::{classify, pool_error};

type Param = Box<dyn ToSql + Sync + Send>;

/// A statement whose filters depend on the request: conditions and their parameters.
#[derive(Default)]
struct Filters {
    conds: Vec<String>,
    params: Vec<Param>,
}

impl Filters {
    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn cond(&mut self, cond: String) {
        self.conds.push(cond);
    }

    fn where_clause(&self) -> String {
        if self.conds.is_empty() { String::new() } else { format!("WHERE {}", self.conds.join(" AND ")) }
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StorageError {
    StorageError::Internal { message: format!("stored {what} is not valid: {detail}"), source: None }
}

fn time(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from_datetime(&t)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Option<Timestamp> {
    t.map(time)
}

/// The earliest instant `timestamptz` holds (4714-11-24 BC), in Unix microseconds.
const PG_MIN_MICROS: i64 = -210_866_803_200_000_000;

/// A bound given by a client, as a parameter. Every stored time lies within both limits, so
/// clamping keeps every comparison's answer while staying within what both sides can encode.
pub(crate) fn bound(micros: i64) -> DateTime<Utc> {
    let m = micros.clamp(PG_MIN_MICROS, DateTime::<Utc>::MAX_UTC.timestamp_micros());
    DateTime::from_timestamp_micros(m).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn parse<T: std::str::FromStr>(what: &str, s: String) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn kind(s: Option<String>) -> Result<ContentKind, StorageError> {
    match s {
        None => Ok(ContentKind::Unknown),
        Some(k) => ContentKind::parse(&k).ok_or_else(|| corrupt("content kind", k)),
    }
}

fn invalid_cursor(c: &Cursor) -> StorageError {
    StorageError::InvalidCursor(c.as_str().chars().take(64).collect())
}

/// A `(microseconds, text)` cursor of a newest-first list, checked whole before anything is
/// read, as the reference store does.
fn time_cursor(page: &PageRequest) -> Result<Option<(i64, String)>, StorageError> {
    let Some(c) = &page.after else { return Ok(None) };
    let mut key = c.to_key(2)?;
    let id = key.pop().unwrap_or_default();
    let micros = key[0].parse::<i64>().map_err(|_| invalid_cursor(c))?;
    Ok(Some((micros, id)))
}

fn limit(page: &PageRequest) -> i64 {
    page.effective_limit() as i64 + 1
}

fn stamp(at: Option<DateTime<Utc>>, event: Option<String>) -> Option<Stamp> {
    Some(Stamp { at: time(at?), event_id: event? })
}

fn tombstone(at: Option<DateTime<Utc>>, event: Option<String>, actor: Option<String>) -> Option<Tombstone> {
    Some(Tombstone { at: time(at?), event_id: event?, actor })
}

/// Reads `seen_at, seen_event, deleted_at, deleted_event, deleted_by` from `first`.
fn repo_tombstone(row: &Row, first: usize) -> Option<Tombstone> {
    Tombstone::of_repository(
        stamp(row.get(first), row.get(first + 1)).as_ref(),
        tombstone(row.get(first + 2), row.get(first + 3), row.get(first + 4)),
    )
}

/// The reference kind in column `i`, stored as the enum's label.
fn reference_kind(row: &Row, i: usize) -> Result<ReferenceKind, StorageError> {
    let k: String = row.get(i);
    ReferenceKind::parse(&k).ok_or_else(|| corrupt("reference kind", k))
}

/// Referrers from rows of `(parent, kind)`.
fn referrer_page(rows: &[Row], page: &PageRequest) -> Result<Page<Referrer>, StorageError> {
    let items = rows
        .iter()
        .map(|row| Ok(Referrer { digest: parse("digest", row.get(0))?, kind: reference_kind(row, 1)? }))
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Page::from_overfetch(items, page.effective_limit(), Referrer::cursor_key))
}

fn u64_of(v: i64) -> u64 {
    // Counters only grow from zero.
    u64::try_from(v).unwrap_or_default()
}

/// The columns of `events` in `LogEntry` order.
const EVENT_COLUMNS: &str = "id, at, action, registry, repository, tag, digest, media_type, kind::text, \
     actor, client_ip, method, user_agent, source_instance, counted, raw";

fn log_entry(row: &Row) -> Result<LogEntry, StorageError> {
    Ok(LogEntry {
        id: row.get(0),
        timestamp: time(row.get(1)),
        action: Action::from(row.get::<_, &str>(2)),
        registry: row.get(3),
        repository: parse("repository name", row.get(4))?,
        tag: row.get::<_, Option<String>>(5).map(|t| parse("tag", t)).transpose()?,
        digest: row.get::<_, Option<String>>(6).map(|d| parse("digest", d)).transpose()?,
        media_type: row.get(7),
        kind: kind(row.get(8))?,
        actor: row.get(9),
        client_ip: row.get(10),
        method: row.get(11),
        user_agent: row.get(12),
        source_instance: row.get(13),
        counted: row.get(14),
        raw: row.get(15),
    })
}

/// `LIKE` pattern of a name match: the text lowercased as the reference store does (ASCII
/// only), with the pattern characters escaped.
fn like_pattern(m: &NameMatch) -> String {
    let (text, prefix) = match m {
        NameMatch::Prefix(p) => (p, true),
        NameMatch::Substring(s) => (s, false),
    };
    let mut escaped = String::with_capacity(text.len() + 2);
    if !prefix {
        escaped.push('%');
    }
    for ch in text.to_ascii_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped.push('%');
    escaped
}

impl PgStore {
    /// A connection on which every event acknowledged so far is projected.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        crate::project::settle(&client, &self.sql).await?;
        Ok(client)
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        what: &str,
    ) -> Result<Vec<Row>, StorageError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(|e| classify(what, e))?;
        client.query(&stmt, params).await.map_err(|e| classify(what, e))
    }

    /// The plans queued and not yet projected (not through `client`, which would project them).
    pub(crate) async fn queued(&self) -> Result<u64, StorageError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let stmt =
            client.prepare_cached(&self.sql.pending_count).await.map_err(|e| classify("preparing", e))?;
        let n: i64 =
            client.query_one(&stmt, &[]).await.map_err(|e| classify("counting the queue", e))?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(crate) async fn ping_db(&self) -> Result<(), StorageError> {
        // Not through `client`: readiness must not wait for a projection.
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows =
            client.query("SELECT pg_is_in_recovery()", &[]).await.map_err(|e| classify("pinging", e))?;
        match rows.first().map(|r| r.get::<_, bool>(0)) {
            Some(false) => Ok(()),
            _ => Err(StorageError::Unavailable {
                message: "the database is a read-only standby".to_owned(),
                source: None,
            }),
        }
    }

    pub(crate) async fn list_repositories(
        &self,
        q: &RepositoryQuery,
    ) -> Result<Page<RepositorySummary>, StorageError> {
        let s = &self.sql.schema;
        let mut f = Filters::default();
        if let Some(registry) = &q.registry {
            let p = f.param(registry.clone());
            f.cond(format!("r.registry = {p}"));
        }
        if let Some(m) = &q.name {
            let p = f.param(like_pattern(m));
            f.cond(format!("r.name LIKE {p}"));
        }
        if let Some(c) = &q.page.after {
            let key = c.to_key(2)?;
            let (a, b) = (f.param(key[0].clone()), f.param(key[1].clone()));
            f.cond(format!("(r.registry, r.name) > ({a}, {b})"));
        }
        let lim = f.param(limit(&q.page));
        let sql = format!(
            "SELECT r.registry, r.name, r.live_tags, \
                    r.push_count, r.pull_count, r.last_push, r.last_pull, \
                    r.seen_at, r.seen_event, r.deleted_at, r.deleted_event, r.deleted_by \
             FROM {s}.repositories r {} ORDER BY r.registry, r.name LIMIT {lim}",
            f.where_clause()
        );
        let rows = self.rows(&sql, &f.refs(), "listing repositories").await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(RepositorySummary {
                    registry: row.get(0),
                    repository: parse("repository name", row.get(1))?,
                    tag_count: u64_of(row.get(2)),
                    push_count: u64_of(row.get(3)),
                    pull_count: u64_of(row.get(4)),
                    last_push: opt_time(row.get(5)),
                    last_pull: opt_time(row.get(6)),
                    deleted: repo_tombstone(row, 7),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page::from_overfetch(items, q.page.effective_limit(), |r| {
            vec![r.registry.clone(), r.repository.to_string()]
        }))
    }

    pub(crate) async fn list_tags(
        &self,
        repo: &RepoRef,
        page: &PageRequest,
    ) -> Result<Page<TagSummary>, StorageError> {
        let s = &self.sql.schema;
        let mut f = Filters::default();
        let (reg, name) = (f.param(repo.registry.clone()), f.param(repo.repository.to_string()));
        f.cond(format!(
            "t.repo_id = (SELECT id FROM {s}.repositories WHERE registry = {reg} AND name = {name})"
        ));
        if let Some(c) = &page.after {
            let key = c.to_key(1)?;
            let p = f.param(key[0].clone());
            f.cond(format!("t.tag > {p}"));
        }
        let lim = f.param(limit(page));
        let sql = format!(
            "SELECT t.tag, t.digest, c.kind::text, c.media_type, t.set_at, t.actor, \
                    t.push_count, t.pull_count, t.last_pulled \
             FROM {s}.live_tags t LEFT JOIN {s}.content c ON c.digest = t.digest \
             {} ORDER BY t.tag LIMIT {lim}",
            f.where_clause()
        );
        let rows = self.rows(&sql, &f.refs(), "listing tags").await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(TagSummary {
                    tag: parse("tag", row.get(0))?,
                    digest: parse("digest", row.get(1))?,
                    kind: kind(row.get(2))?,
                    media_type: row.get(3),
                    pushed_at: time(row.get(4)),
                    pushed_by: row.get(5),
                    push_count: u64_of(row.get(6)),
                    pull_count: u64_of(row.get(7)),
                    last_pulled: opt_time(row.get(8)),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page::from_overfetch(items, page.effective_limit(), |t| vec![t.tag.to_string()]))
    }

    pub(crate) async fn list_tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        let s = &self.sql.schema;
        let mut f = Filters::default();
        let (reg, name) = (f.param(repo.registry.clone()), f.param(repo.repository.to_string()));
        f.cond(format!(
            "t.repo_id = (SELECT id FROM {s}.repositories WHERE registry = {reg} AND name = {name}) \
             AND h.digest IS NOT NULL"
        ));
        if let Some(c) = &page.after {
            let key = c.to_key(1)?;
            let p = f.param(key[0].clone());
            f.cond(format!("t.tag > {p}"));
        }
        let at = f.param(bound(instant.unix_micros()));
        let lim = f.param(limit(page));
        // Every tag row in key order, each with one backward step of its history's key from
        // the instant: the page stops after `limit` tags that pointed at something.
        let sql = format!(
            "SELECT t.tag, h.digest, h.at, h.event_id, h.actor \
             FROM {s}.tags t CROSS JOIN LATERAL \
                  (SELECT p.digest, p.at, p.event_id, p.actor FROM {s}.tag_history p \
                   WHERE p.repo_id = t.repo_id AND p.tag = t.tag AND p.at <= {at} \
                   ORDER BY p.at DESC, p.event_id DESC LIMIT 1) h \
             {} ORDER BY t.tag LIMIT {lim}",
            f.where_clause()
        );
        let rows = self.rows(&sql, &f.refs(), "reading the tags at an instant").await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(PastTag {
                    tag: parse("tag", row.get(0))?,
                    digest: parse("digest", row.get(1))?,
                    set_at: time(row.get(2)),
                    event_id: row.get(3),
                    actor: row.get(4),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page::from_overfetch(items, page.effective_limit(), |t| vec![t.tag.to_string()]))
    }

    pub(crate) async fn list_tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        let s = &self.sql.schema;
        let cursor = time_cursor(page)?;
        let mut f = Filters::default();
        let (reg, name, t) =
            (f.param(repo.registry.clone()), f.param(repo.repository.to_string()), f.param(tag.to_string()));
        f.cond(format!(
            "h.repo_id = (SELECT id FROM {s}.repositories WHERE registry = {reg} AND name = {name}) AND h.tag = {t}"
        ));
        if let Some((m, id)) = cursor {
            let (a, b) = (f.param(bound(m)), f.param(id));
            f.cond(format!("(h.at, h.event_id) < ({a}, {b})"));
        }
        let lim = f.param(limit(page));
        let sql = format!(
            "SELECT h.at, h.event_id, h.actor, h.digest, \
                    (SELECT p.digest FROM {s}.tag_history p \
                     WHERE p.repo_id = h.repo_id AND p.tag = h.tag AND (p.at, p.event_id) < (h.at, h.event_id) \
                     ORDER BY p.at DESC, p.event_id DESC LIMIT 1) \
             FROM {s}.tag_history h {} ORDER BY h.at DESC, h.event_id DESC LIMIT {lim}",
            f.where_clause()
        );
        let rows = self.rows(&sql, &f.refs(), "reading tag history").await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(TagHistoryEntry {
                    at: time(row.get(0)),
                    event_id: row.get(1),
                    actor: row.get(2),
                    digest: row.get::<_, Option<String>>(3).map(|d| parse("digest", d)).transpose()?,
                    previous: row.get::<_, Option<String>>(4).map(|d| parse("digest", d)).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page::from_overfetch(items, page.effective_limit(), |e| {
            vec![e.at.unix_micros().to_string(), e.event_id.clone()]
        }))
    }

    pub(crate) async fn digest_info(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        let client = self.client().await?;
        let sql = &self.sql;
        let failed = |e| classify("describing a digest", e);
        let (content, refs, referrers) = tokio::try_join!(
            client.prepare_cached(&sql.digest_content),
            client.prepare_cached(&sql.digest_refs),
            client.prepare_cached(&sql.digest_referrers),
        )
        .map_err(failed)?;
        let d = digest.as_str();
        let params: &[&(dyn ToSql + Sync)] = &[&d];
        let first = PageRequest::first(DIGEST_PAGE_SIZE);
        let (repositories, referrers_params) =
            (Self::location_params(digest, &first)?, Self::referrer_params(digest, &first)?);
        // One connection, four statements in flight: the driver pipelines them.
        let (content, repositories, refs, referenced_by) = tokio::try_join!(
            async { client.query(&content, params).await.map_err(failed) },
            self.locations(&client, repositories, &first),
            async { client.query(&refs, params).await.map_err(failed) },
            async {
                let rows = client.query(&referrers, &referrers_params.refs()).await.map_err(failed)?;
                referrer_page(&rows, &first)
            },
        )?;
        let content = content.first();
        if content.is_none() && repositories.items.is_empty() {
            return Ok(None);
        }
        let references = refs
            .iter()
            .map(|row| {
                Ok(ContentReference {
                    digest: parse("digest", row.get(0))?,
                    kind: reference_kind(row, 1)?,
                    media_type: row.get(2),
                    size: u64_of(row.get(3)),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Some(DigestInfo {
            digest: digest.clone(),
            kind: kind(content.map(|c| c.get(0)))?,
            media_type: content.and_then(|c| c.get(1)),
            size: content.and_then(|c| c.get::<_, Option<i64>>(2)).map(u64_of),
            artifact_type: content.and_then(|c| c.get(3)),
            first_seen: content.map(|c| time(c.get(4))),
            repositories: repositories.items,
            repositories_next: repositories.next,
            references,
            referenced_by: referenced_by.items,
            referenced_by_next: referenced_by.next,
        }))
    }

    pub(crate) async fn digest_locations(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        let params = Self::location_params(digest, page)?;
        let client = self.client().await?;
        self.locations(&client, params, page).await
    }

    pub(crate) async fn digest_referrer_page(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        let params = Self::referrer_params(digest, page)?;
        let client = self.client().await?;
        let failed = |e| classify("listing the referrers of a digest", e);
        let statement = client.prepare_cached(&self.sql.digest_referrers).await.map_err(failed)?;
        let rows = client.query(&statement, &params.refs()).await.map_err(failed)?;
        referrer_page(&rows, page)
    }

    /// The digest, the `(registry, repository)` the page starts after and the overfetching
    /// limit.
    fn location_params(digest: &Digest, page: &PageRequest) -> Result<Filters, StorageError> {
        let (registry, name) = DigestLocation::position_after(page)?;
        let mut f = Filters::default();
        f.param(digest.to_string());
        f.param(registry);
        f.param(name);
        f.param(limit(page));
        Ok(f)
    }

    /// The digest, the cursor's `(digest, kind)` (an empty digest on the first page) and the
    /// overfetching limit.
    fn referrer_params(digest: &Digest, page: &PageRequest) -> Result<Filters, StorageError> {
        let (parent, kind) = match &page.after {
            None => (String::new(), ReferenceKind::Config),
            Some(c) => {
                let r = Referrer::from_cursor(c)?;
                (r.digest.to_string(), r.kind)
            }
        };
        let mut f = Filters::default();
        f.param(digest.to_string());
        f.param(parent);
        f.param(kind.as_str().to_owned());
        f.param(limit(page));
        Ok(f)
    }

    /// A page of the repositories holding a digest: one range of the index of links by
    /// `(hash of the digest, registry, name)` (migrations 5 and 19).
    async fn locations(
        &self,
        client: &deadpool_postgres::Object,
        params: Filters,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        let failed = |e| classify("listing the repositories of a digest", e);
        let statement = client.prepare_cached(&self.sql.digest_links).await.map_err(failed)?;
        let rows = client.query(&statement, &params.refs()).await.map_err(failed)?;
        let items = rows
            .iter()
            .map(|row| {
                let seen = stamp(row.get(3), row.get(4));
                let link_deleted = tombstone(row.get(5), row.get(6), row.get(7));
                let repo_deleted = tombstone(row.get(8), row.get(9), row.get(10));
                let (live, deleted) = Tombstone::link_liveness(seen.as_ref(), link_deleted, repo_deleted);
                Ok(DigestLocation {
                    registry: row.get(0),
                    repository: parse("repository name", row.get(1))?,
                    live,
                    first_seen: opt_time(row.get(2)),
                    deleted,
                    tags: row
                        .get::<_, Vec<String>>(13)
                        .into_iter()
                        .map(|t| parse("tag", t))
                        .collect::<Result<_, _>>()?,
                    pull_count: u64_of(row.get(11)),
                    last_pulled: opt_time(row.get(12)),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Page::from_overfetch(items, page.effective_limit(), DigestLocation::cursor_key))
    }

    pub(crate) async fn list_events(&self, q: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        let s = &self.sql.schema;
        let mut f = Filters::default();
        let eq = |f: &mut Filters, column: &str, value: Option<String>| {
            if let Some(v) = value {
                let p = f.param(v);
                f.cond(format!("{column} = {p}"));
            }
        };
        eq(&mut f, "registry", q.registry.clone());
        eq(&mut f, "repository", q.repository.as_ref().map(|r| r.to_string()));
        eq(&mut f, "tag", q.tag.as_ref().map(|t| t.to_string()));
        if let Some(d) = &q.digest {
            // The index by digest is keyed on its hash (migration 18); the digest itself
            // drops what shares the hash.
            let p = f.param(d.to_string());
            f.cond(format!("hashtextextended(digest, 0) = hashtextextended({p}, 0) AND digest = {p}"));
        }
        eq(&mut f, "action", q.action.as_ref().map(|a| a.as_str().to_owned()));
        eq(&mut f, "actor", q.actor.clone());
        eq(&mut f, "client_ip", q.client_ip.clone());
        if let Some(since) = q.since {
            let p = f.param(bound(since.unix_micros()));
            f.cond(format!("at >= {p}"));
        }
        if let Some(until) = q.until {
            let p = f.param(bound(until.unix_micros()));
            f.cond(format!("at < {p}"));
        }
        if let Some((m, id)) = time_cursor(&q.page)? {
            let (a, b) = (f.param(bound(m)), f.param(id));
            f.cond(format!("(at, id) < ({a}, {b})"));
        }
        let lim = f.param(limit(&q.page));
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {s}.events {} ORDER BY at DESC, id DESC LIMIT {lim}",
            f.where_clause()
        );
        let rows = self.rows(&sql, &f.refs(), "reading events").await?;
        let items = rows.iter().map(log_entry).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, q.page.effective_limit(), |e| {
            vec![e.timestamp.unix_micros().to_string(), e.id.clone()]
        }))
    }

    pub(crate) async fn stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        let rows = self
            .rows(&self.sql.stats, &[&repo.registry, &repo.repository.as_str()], "reading statistics")
            .await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(RepositoryStats {
            registry: row.get(0),
            repository: parse("repository name", row.get(1))?,
            tag_count: u64_of(row.get(2)),
            live_digests: u64_of(row.get(3)),
            push_count: u64_of(row.get(4)),
            pull_count: u64_of(row.get(5)),
            first_push: opt_time(row.get(6)),
            last_push: opt_time(row.get(7)),
            first_pull: opt_time(row.get(8)),
            last_pull: opt_time(row.get(9)),
            pushers: row.get(10),
            pullers: row.get(11),
            deleted: repo_tombstone(row, 12),
        }))
    }

    /// The inventory walks repositories in order, a batch at a time, and takes the live tags
    /// of each: a single join sorted by (registry, name, tag) would sort every live tag of
    /// the database for each page, since the planner cannot see that per-repository tag
    /// lists come out of their index already in order. The `LIMIT` inside the lateral join
    /// keeps the planner from flattening it into a hash join over every tag and link.
    ///
    /// Batches start small and then take as many repositories as the tags per repository
    /// seen so far say the page still needs: a page of 1,000 tags from repositories holding
    /// dozens each needs a few dozen repositories, and reading 1,000 of them (with all their
    /// tags) only to keep the first few was what made a page cost hundreds of milliseconds.
    pub(crate) async fn list_inventory(
        &self,
        q: &InventoryQuery,
    ) -> Result<Page<InventoryItem>, StorageError> {
        let mut page = InventoryPage { want: q.page.effective_limit() + 1, items: Vec::new() };
        self.live_tags(&q.filter, &q.page, None, &mut page).await?;
        Ok(Page::from_overfetch(page.items, q.page.effective_limit(), InventoryItem::sort_key))
    }

    /// The inventory's walk, with each tag's use read as well (the tag row's set time and
    /// last pull, and, where those leave it unused, its link's last pull: lookups that the
    /// plain inventory, answered from one index, does not pay), fed to the page's
    /// [`UnusedWalk`].
    pub(crate) async fn list_unused(&self, q: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        let mut walk = UnusedPage { want: q.page.effective_limit() + 1, walk: UnusedWalk::new(q) };
        self.live_tags(&q.filter, &q.page, Some(q.since), &mut walk).await?;
        Ok(walk.walk.finish())
    }

    /// Live tags in inventory order after `page`'s cursor, fed to `sink` until it wants no
    /// more; with `usage`, each row also holds the tag's set time (5), last pull (6) and its
    /// link's last pull (7), the last only where the first two leave the tag unused at
    /// that instant.
    async fn live_tags(
        &self,
        filter: &LiveTagFilter,
        page: &PageRequest,
        usage: Option<Timestamp>,
        sink: &mut impl TagSink,
    ) -> Result<(), StorageError> {
        let s = &self.sql.schema;
        // The first batch starts at the cursor's repository, after its tag; the next ones
        // after the last repository of the previous batch.
        let (mut registry, mut name, tag) = match &page.after {
            Some(c) => {
                let mut key = c.to_key(3)?;
                let tag = key.pop().unwrap_or_default();
                let name = key.pop().unwrap_or_default();
                (key.pop().unwrap_or_default(), name, Some(tag))
            }
            None => (String::new(), String::new(), None),
        };
        let mut first = true;
        let mut repositories = sink.allowed().clamp(1, 16);
        let (mut seen, mut read) = (0, 0);
        loop {
            let mut f = Filters::default();
            if let Some(r) = &filter.registry {
                let p = f.param(r.clone());
                f.cond(format!("registry = {p}"));
            }
            if let Some(m) = &filter.repository {
                let p = f.param(like_pattern(m));
                f.cond(format!("name LIKE {p}"));
            }
            let only_tag = match &filter.tag {
                Some(t) => format!("AND lt.tag = {}", f.param(t.to_string())),
                None => String::new(),
            };
            let after_tag = match (&tag, first) {
                (None, true) => String::new(),
                (Some(t), true) => {
                    let (a, b) = (f.param(registry.clone()), f.param(name.clone()));
                    f.cond(format!("(registry, name) >= ({a}, {b})"));
                    let t = f.param(t.clone());
                    format!("AND (b.registry, b.name, lt.tag) > ({a}, {b}, {t})")
                }
                (_, false) => {
                    let (a, b) = (f.param(registry.clone()), f.param(name.clone()));
                    f.cond(format!("(registry, name) > ({a}, {b})"));
                    String::new()
                }
            };
            // Without usage, nothing but the index of live tags is read. With it, a tag's own
            // row is read, and its link only where the tag's own times leave it unused: a tag
            // set or pulled by name since is used whatever its digest's pulls, and skipping
            // those links makes a walk among used tags about three times cheaper.
            let (inner, outer) = match usage {
                Some(instant) => {
                    let p = f.param(bound(instant.unix_micros()));
                    (
                        format!(
                            ", lt.set_at, lt.last_pulled, \
                             CASE WHEN lt.set_at < {p} AND (lt.last_pulled IS NULL OR lt.last_pulled < {p}) \
                             THEN (SELECT lk.last_pulled FROM {s}.links lk \
                                   WHERE lk.repo_id = lt.repo_id AND lk.digest = lt.digest) END AS link_pulled"
                        ),
                        ", t.set_at, t.last_pulled, t.link_pulled",
                    )
                }
                None => (String::new(), ""),
            };
            let batch = f.param(sink.allowed() as i64);
            let repo_batch = f.param(repositories as i64);
            // Every repository gives at least one row (an empty one, a NULL tag), so this many
            // rows cover the whole walk however the tags fall among repositories: a full
            // result means the sink stopped, never that repositories were cut off.
            let rows_batch = f.param((sink.allowed() + repositories) as i64);
            let sql = format!(
                "WITH b AS (SELECT id, registry, name FROM {s}.repositories {} \
                            ORDER BY registry, name LIMIT {repo_batch}) \
                 SELECT b.registry, b.name, t.tag, t.digest, t.media_type{outer} \
                 FROM b LEFT JOIN LATERAL (SELECT lt.tag, lt.digest, lt.media_type{inner} \
                                           FROM {s}.live_tags lt \
                                           WHERE lt.repo_id = b.id {after_tag} {only_tag} \
                                           ORDER BY lt.tag LIMIT {batch}) t ON true \
                 ORDER BY b.registry, b.name, t.tag NULLS FIRST LIMIT {rows_batch}",
                f.where_clause()
            );
            let rows = self.rows(&sql, &f.refs(), "reading the inventory").await?;
            let mut repos = 0;
            let mut more = true;
            for row in &rows {
                let (r, n): (String, String) = (row.get(0), row.get(1));
                if (&r, &n) != (&registry, &name) || repos == 0 {
                    repos += 1;
                    (registry, name) = (r, n);
                }
                let Some(tag) = row.get::<_, Option<String>>(2) else { continue };
                let listed = InventoryItem {
                    registry: registry.clone(),
                    repository: parse("repository name", name.clone())?,
                    tag: parse("tag", tag)?,
                    digest: parse("digest", row.get(3))?,
                    media_type: row.get(4),
                };
                read += 1;
                if !sink.take(row, listed) {
                    more = false;
                    break;
                }
            }
            first = false;
            seen += repos;
            if !more || repos < repositories {
                return Ok(());
            }
            // As many repositories as the tags per repository seen so far say the rest of
            // the walk needs, and a quarter more: one more batch in most pages. None with
            // tags yet: four times as many.
            let estimate = match read {
                0 => repositories * 4,
                read => (sink.needed() * seen).div_ceil(read) * 5 / 4,
            };
            repositories = estimate.clamp(sink.allowed().clamp(1, 16), MAX_REPOSITORY_BATCH);
        }
    }

    pub(crate) async fn list_quarantine(
        &self,
        page: &QuarantineQuery,
    ) -> Result<Page<QuarantineRecord>, StorageError> {
        let s = &self.sql.schema;
        let mut f = Filters::default();
        if let Some((m, key)) = time_cursor(page)? {
            let (a, b) = (f.param(bound(m)), f.param(key));
            f.cond(format!("(received_at, key) < ({a}, {b})"));
        }
        let lim = f.param(limit(page));
        let sql = format!(
            "SELECT key, registry, received_at, reason, raw FROM {s}.quarantine {} \
             ORDER BY received_at DESC, key DESC LIMIT {lim}",
            f.where_clause()
        );
        let rows = self.rows(&sql, &f.refs(), "reading quarantine").await?;
        let items = rows
            .iter()
            .map(|row| QuarantineRecord {
                key: row.get(0),
                registry: row.get(1),
                received_at: time(row.get(2)),
                reason: row.get(3),
                raw: row.get(4),
            })
            .collect::<Vec<_>>();
        Ok(Page::from_overfetch(items, page.effective_limit(), |r| {
            vec![r.received_at.unix_micros().to_string(), r.key.clone()]
        }))
    }
}

/// The most repositories one statement of the inventory's walk reads.
const MAX_REPOSITORY_BATCH: usize = 1_000;

/// What the inventory's walk feeds: a page of the inventory, or a walk of the unused list.
trait TagSink {
    /// Takes the next live tag, `item` as listed from `row`; false once no more are wanted.
    fn take(&mut self, row: &Row, item: InventoryItem) -> bool;
    /// At most how many more tags are wanted.
    fn allowed(&self) -> usize;
    /// How many more tags are likely to be read, to size the next batch of repositories.
    fn needed(&self) -> usize;
}

/// A page of the inventory: one more than the page holds, to tell that more exist.
struct InventoryPage {
    want: usize,
    items: Vec<InventoryItem>,
}

impl TagSink for InventoryPage {
    fn take(&mut self, _: &Row, item: InventoryItem) -> bool {
        self.items.push(item);
        self.items.len() < self.want
    }

    fn allowed(&self) -> usize {
        self.want.saturating_sub(self.items.len())
    }

    fn needed(&self) -> usize {
        self.allowed()
    }
}

/// A page of the unused list, fed to its walk.
struct UnusedPage {
    want: usize,
    walk: UnusedWalk,
}

impl TagSink for UnusedPage {
    fn take(&mut self, row: &Row, item: InventoryItem) -> bool {
        self.walk.take(UnusedItem {
            item,
            pushed_at: time(row.get(5)),
            last_pulled: opt_time(row.get(6)).max(opt_time(row.get(7))),
        })
    }

    fn allowed(&self) -> usize {
        self.walk.remaining()
    }

    /// As many as the share of unused tags found so far says the page still needs; all the
    /// walk allows while none is found.
    fn needed(&self) -> usize {
        match self.walk.counts() {
            (_, 0) => self.allowed(),
            (examined, kept) => {
                (self.want.saturating_sub(kept) * examined).div_ceil(kept).min(self.allowed())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_lowercase_ascii() {
        assert_eq!(like_pattern(&NameMatch::Prefix("Lib".into())), "lib%");
        assert_eq!(like_pattern(&NameMatch::Substring("a_b%c\\".into())), "%a\\_b\\%c\\\\%");
        assert_eq!(like_pattern(&NameMatch::Substring(String::new())), "%%");
    }

    #[test]
    fn client_bounds_are_clamped_into_both_ranges() {
        assert_eq!(bound(0).timestamp_micros(), 0);
        assert_eq!(bound(i64::MIN).timestamp_micros(), PG_MIN_MICROS);
        assert_eq!(bound(i64::MAX).timestamp_micros(), DateTime::<Utc>::MAX_UTC.timestamp_micros());
    }
}
