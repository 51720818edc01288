//! Reads: every query of the `Storage` trait, answered as the reference store answers it.
//!
//! Liveness is decided in SQL where a list is filtered or counted by it ([`LIVE_TAG`],
//! [`LIVE_LINK`]), and in Rust, mirroring the reference store, where a tombstone has to be
//! chosen for display (`DigestLocation::deleted`, a repository's `deleted`). Lists fetch one
//! item more than the page holds to tell whether a next page exists, and their cursors are
//! the core's `Cursor::from_key` encoding of the same sort keys, so a cursor of any backend
//! works here.

use notify_core::command::ContentReference;
use notify_core::query::{
    DIGEST_PAGE_SIZE, DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, LiveTagFilter,
    NameMatch, PastTag, QuarantineQuery, QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats,
    RepositorySummary, TagHistoryEntry, TagSummary, Tombstone, UnusedItem, UnusedQuery, UnusedWalk,
};
use notify_core::{
    Action, ContentKind, Digest, LogEntry, Page, PageRequest, RepoRef, Stamp, StorageError, Tag, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::error::{classify, corrupt};
use crate::kinds::{content_kind, reference_kind, reference_rank};

/// A tag `t` of repository `r` is live when its register is a set that neither a delete of
/// its digest's link `l` (left-joined on the digest) nor the repository's delete outranks.
/// A comparison with a NULL stamp is NULL: no delete, no hiding.
const LIVE_TAG: &str = "t.digest IS NOT NULL \
     AND NOT ifnull((l.deleted_at, l.deleted_event) > (t.set_at, t.set_event), 0) \
     AND NOT ifnull((r.deleted_at, r.deleted_event) > (t.set_at, t.set_event), 0)";

/// A link `l` of repository `r` is live when it was observed and no delete of it or of the
/// repository is newer than the last observation.
const LIVE_LINK: &str = "l.seen_at IS NOT NULL \
     AND NOT ifnull((l.deleted_at, l.deleted_event) > (l.seen_at, l.seen_event), 0) \
     AND NOT ifnull((r.deleted_at, r.deleted_event) > (l.seen_at, l.seen_event), 0)";

/// Live tags of the repository `r` of the enclosing query.
fn count_live_tags() -> String {
    format!(
        "(SELECT count(*) FROM tags t LEFT JOIN links l ON l.repo_id = t.repo_id AND l.digest = t.digest \
         WHERE t.repo_id = r.id AND {LIVE_TAG})"
    )
}

fn sql(e: rusqlite::Error) -> StorageError {
    classify("reading", e)
}

fn time(m: i64) -> Timestamp {
    Timestamp::from_unix_micros(m)
}

fn opt_time(m: Option<i64>) -> Option<Timestamp> {
    m.map(time)
}

fn parse<T: std::str::FromStr>(what: &str, s: String) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn parse_opt<T: std::str::FromStr>(what: &str, s: Option<String>) -> Result<Option<T>, StorageError>
where
    T::Err: std::fmt::Display,
{
    s.map(|s| parse(what, s)).transpose()
}

fn count(v: i64) -> u64 {
    // Counters only grow from zero.
    u64::try_from(v).unwrap_or_default()
}

fn stamp(at: Option<i64>, event: Option<String>) -> Option<Stamp> {
    Some(Stamp { at: time(at?), event_id: event? })
}

fn tombstone(at: Option<i64>, event: Option<String>, actor: Option<String>) -> Option<Tombstone> {
    Some(Tombstone { at: time(at?), event_id: event?, actor })
}

/// Reads `seen_at, seen_event, deleted_at, deleted_event, deleted_by` from column `first` on.
fn repo_tombstone(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<Tombstone>> {
    Ok(Tombstone::of_repository(
        stamp(row.get(first)?, row.get(first + 1)?).as_ref(),
        tombstone(row.get(first + 2)?, row.get(first + 3)?, row.get(first + 4)?),
    ))
}

fn limit(page: &PageRequest) -> i64 {
    page.effective_limit() as i64 + 1
}

/// The `(microseconds, text)` key of a newest-first list's cursor. A malformed one is refused
/// up front, as the reference store does, even when the list has no item to compare it with.
fn time_cursor(page: &PageRequest) -> Result<Option<(i64, String)>, StorageError> {
    let Some(c) = &page.after else { return Ok(None) };
    let mut key = c.to_key(2)?;
    let id = key.pop().unwrap_or_default();
    let micros = key[0]
        .parse::<i64>()
        .map_err(|_| StorageError::InvalidCursor(c.as_str().chars().take(64).collect()))?;
    Ok(Some((micros, id)))
}

/// A statement whose conditions depend on the request.
#[derive(Default)]
struct Filters {
    conds: Vec<String>,
    params: Vec<Value>,
}

impl Filters {
    /// Adds a parameter and returns its placeholder.
    fn param(&mut self, value: impl Into<Value>) -> String {
        self.params.push(value.into());
        format!("?{}", self.params.len())
    }

    fn cond(&mut self, cond: String) {
        self.conds.push(cond);
    }

    fn where_clause(&self) -> String {
        if self.conds.is_empty() { String::new() } else { format!("WHERE {}", self.conds.join(" AND ")) }
    }

    fn rows<T>(
        &self,
        conn: &Connection,
        sql_text: &str,
        map: impl FnMut(&Row<'_>) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        query(conn, sql_text, params_from_iter(self.params.iter()), map)
    }
}

/// Runs a prepared (cached) statement and maps every row.
fn query<T, P: rusqlite::Params>(
    conn: &Connection,
    sql_text: &str,
    params: P,
    mut map: impl FnMut(&Row<'_>) -> Result<T, StorageError>,
) -> Result<Vec<T>, StorageError> {
    let mut stmt = conn.prepare_cached(sql_text).map_err(sql)?;
    let mut rows = stmt.query(params).map_err(sql)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Row getters return rusqlite errors; a wrong type in a row is the store's fault.
fn get<T: rusqlite::types::FromSql>(row: &Row<'_>, i: usize) -> Result<T, StorageError> {
    row.get(i).map_err(sql)
}

/// The bounds of a case-insensitive prefix search, which an index on the name answers as a
/// range: names are lowercase by grammar, and every text in `[p, p || U+10FFFF)` starts with
/// `p`. Every name starting with `p` lies there too, as names are ASCII by grammar (only a
/// text continuing `p` with U+10FFFF and more would sort past the bound).
fn prefix_bounds(p: &str) -> (String, String) {
    let lower = p.to_ascii_lowercase();
    let upper = format!("{lower}{}", char::MAX);
    (lower, upper)
}

/// With a registry filter, the cursor's `(registry, name, …)` bound also as a bound on the name
/// alone, so that the `(registry, name)` key seeks to it: SQLite does not combine
/// `registry = ?` with a row-value bound.
fn seek_name(f: &mut Filters, registry: Option<&String>, key: &[String]) {
    if registry == Some(&key[0]) {
        let p = f.param(key[1].clone());
        f.cond(format!("r.name >= {p}"));
    }
}

/// Repository names (`r.name`) that match `m`.
fn name_match(f: &mut Filters, m: &NameMatch) {
    match m {
        NameMatch::Prefix(p) => {
            let (lower, upper) = prefix_bounds(p);
            let (lo, hi) = (f.param(lower), f.param(upper));
            f.cond(format!("r.name >= {lo} AND r.name < {hi}"));
        }
        NameMatch::Substring(s) => {
            let p = f.param(s.to_ascii_lowercase());
            f.cond(format!("instr(r.name, {p}) > 0"));
        }
    }
}

pub(crate) fn repositories(
    conn: &Connection,
    q: &RepositoryQuery,
) -> Result<Page<RepositorySummary>, StorageError> {
    let mut f = Filters::default();
    if let Some(registry) = &q.registry {
        let p = f.param(registry.clone());
        f.cond(format!("r.registry = {p}"));
    }
    if let Some(m) = &q.name {
        name_match(&mut f, m);
    }
    if let Some(c) = &q.page.after {
        let key = c.to_key(2)?;
        let (a, b) = (f.param(key[0].clone()), f.param(key[1].clone()));
        f.cond(format!("(r.registry, r.name) > ({a}, {b})"));
        seek_name(&mut f, q.registry.as_ref(), &key);
    }
    let lim = f.param(limit(&q.page));
    let sql_text = format!(
        "SELECT r.registry, r.name, {}, r.push_count, r.pull_count, r.last_push, r.last_pull, \
                r.seen_at, r.seen_event, r.deleted_at, r.deleted_event, r.deleted_by \
         FROM repositories r {} ORDER BY r.registry, r.name LIMIT {lim}",
        count_live_tags(),
        f.where_clause()
    );
    let items = f.rows(conn, &sql_text, |row| {
        Ok(RepositorySummary {
            registry: get(row, 0)?,
            repository: parse("repository name", get(row, 1)?)?,
            tag_count: count(get(row, 2)?),
            push_count: count(get(row, 3)?),
            pull_count: count(get(row, 4)?),
            last_push: opt_time(get(row, 5)?),
            last_pull: opt_time(get(row, 6)?),
            deleted: repo_tombstone(row, 7).map_err(sql)?,
        })
    })?;
    Ok(Page::from_overfetch(items, q.page.effective_limit(), |r| {
        vec![r.registry.clone(), r.repository.to_string()]
    }))
}

pub(crate) fn tags(
    conn: &Connection,
    repo: &RepoRef,
    page: &PageRequest,
) -> Result<Page<TagSummary>, StorageError> {
    let mut f = Filters::default();
    let (reg, name) = (f.param(repo.registry.clone()), f.param(repo.repository.to_string()));
    f.cond(format!("r.registry = {reg} AND r.name = {name} AND {LIVE_TAG}"));
    if let Some(c) = &page.after {
        let key = c.to_key(1)?;
        let p = f.param(key[0].clone());
        f.cond(format!("t.tag > {p}"));
    }
    let lim = f.param(limit(page));
    let sql_text = format!(
        "SELECT t.tag, t.digest, c.kind, c.media_type, t.set_at, t.actor, t.push_count, t.pull_count, \
                t.last_pulled \
         FROM repositories r JOIN tags t ON t.repo_id = r.id \
         LEFT JOIN links l ON l.repo_id = t.repo_id AND l.digest = t.digest \
         LEFT JOIN content c ON c.digest = t.digest \
         {} ORDER BY t.tag LIMIT {lim}",
        f.where_clause()
    );
    let items = f.rows(conn, &sql_text, |row| {
        Ok(TagSummary {
            tag: parse("tag", get(row, 0)?)?,
            digest: parse("digest", get(row, 1)?)?,
            kind: content_kind(get(row, 2)?)?,
            media_type: get(row, 3)?,
            pushed_at: time(get(row, 4)?),
            pushed_by: get(row, 5)?,
            push_count: count(get(row, 6)?),
            pull_count: count(get(row, 7)?),
            last_pulled: opt_time(get(row, 8)?),
        })
    })?;
    Ok(Page::from_overfetch(items, page.effective_limit(), |t| vec![t.tag.to_string()]))
}

pub(crate) fn tags_at(
    conn: &Connection,
    repo: &RepoRef,
    instant: Timestamp,
    page: &PageRequest,
) -> Result<Page<PastTag>, StorageError> {
    let mut f = Filters::default();
    let (reg, name) = (f.param(repo.registry.clone()), f.param(repo.repository.to_string()));
    f.cond(format!("r.registry = {reg} AND r.name = {name} AND h.digest IS NOT NULL"));
    if let Some(c) = &page.after {
        let key = c.to_key(1)?;
        let p = f.param(key[0].clone());
        f.cond(format!("t.tag > {p}"));
    }
    let at = f.param(instant.unix_micros());
    let lim = f.param(limit(page));
    // Each tag's change in force is one seek of the history's key from the instant back.
    let sql_text = format!(
        "SELECT t.tag, h.digest, h.at, h.event_id, h.actor \
         FROM repositories r JOIN tags t ON t.repo_id = r.id \
         JOIN tag_history h ON h.repo_id = t.repo_id AND h.tag = t.tag \
              AND (h.at, h.event_id) = (SELECT p.at, p.event_id FROM tag_history p \
                                        WHERE p.repo_id = t.repo_id AND p.tag = t.tag AND p.at <= {at} \
                                        ORDER BY p.at DESC, p.event_id DESC LIMIT 1) \
         {} ORDER BY t.tag LIMIT {lim}",
        f.where_clause()
    );
    let items = f.rows(conn, &sql_text, |row| {
        Ok(PastTag {
            tag: parse("tag", get(row, 0)?)?,
            digest: parse("digest", get(row, 1)?)?,
            set_at: time(get(row, 2)?),
            event_id: get(row, 3)?,
            actor: get(row, 4)?,
        })
    })?;
    Ok(Page::from_overfetch(items, page.effective_limit(), |t| vec![t.tag.to_string()]))
}

pub(crate) fn tag_history(
    conn: &Connection,
    repo: &RepoRef,
    tag: &Tag,
    page: &PageRequest,
) -> Result<Page<TagHistoryEntry>, StorageError> {
    let cursor = time_cursor(page)?;
    let repo_id: Option<i64> = conn
        .prepare_cached(
            "SELECT t.repo_id FROM tags t JOIN repositories r ON r.id = t.repo_id \
             WHERE r.registry = ?1 AND r.name = ?2 AND t.tag = ?3",
        )
        .map_err(sql)?
        .query_row(params![repo.registry, repo.repository.as_str(), tag.as_str()], |row| row.get(0))
        .optional()
        .map_err(sql)?;
    let Some(repo_id) = repo_id else {
        return Ok(Page { items: Vec::new(), next: None });
    };
    let mut f = Filters::default();
    let (rid, t) = (f.param(repo_id), f.param(tag.to_string()));
    f.cond(format!("h.repo_id = {rid} AND h.tag = {t}"));
    if let Some((m, id)) = cursor {
        let (a, b) = (f.param(m), f.param(id));
        f.cond(format!("(h.at, h.event_id) < ({a}, {b})"));
    }
    let lim = f.param(limit(page));
    let sql_text = format!(
        "SELECT h.at, h.event_id, h.actor, h.digest, \
                (SELECT p.digest FROM tag_history p \
                 WHERE p.repo_id = h.repo_id AND p.tag = h.tag AND (p.at, p.event_id) < (h.at, h.event_id) \
                 ORDER BY p.at DESC, p.event_id DESC LIMIT 1) \
         FROM tag_history h {} ORDER BY h.at DESC, h.event_id DESC LIMIT {lim}",
        f.where_clause()
    );
    let items = f.rows(conn, &sql_text, |row| {
        Ok(TagHistoryEntry {
            at: time(get(row, 0)?),
            event_id: get(row, 1)?,
            actor: get(row, 2)?,
            digest: parse_opt("digest", get(row, 3)?)?,
            previous: parse_opt("digest", get(row, 4)?)?,
        })
    })?;
    Ok(Page::from_overfetch(items, page.effective_limit(), |e| {
        vec![e.at.unix_micros().to_string(), e.event_id.clone()]
    }))
}

pub(crate) fn digest(conn: &Connection, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
    let d = digest.as_str();
    let content = query(
        conn,
        "SELECT kind, media_type, size, artifact_type, first_seen FROM content WHERE digest = ?1",
        params![d],
        |row| {
            Ok((
                get::<i64>(row, 0)?,
                get::<Option<String>>(row, 1)?,
                get::<Option<i64>>(row, 2)?,
                get::<Option<String>>(row, 3)?,
                get::<i64>(row, 4)?,
            ))
        },
    )?
    .pop();
    let first = PageRequest::first(DIGEST_PAGE_SIZE);
    let repositories = digest_repositories(conn, digest, &first)?;
    if content.is_none() && repositories.items.is_empty() {
        return Ok(None);
    }
    let references = query(
        conn,
        "SELECT child, kind, media_type, size FROM content_references WHERE parent = ?1 ORDER BY child, kind",
        params![d],
        |row| {
            Ok(ContentReference {
                digest: parse("digest", get(row, 0)?)?,
                kind: reference_kind(get(row, 1)?)?,
                media_type: get(row, 2)?,
                size: count(get(row, 3)?),
            })
        },
    )?;
    let referenced_by = digest_referrers(conn, digest, &first)?;
    let content_kind_rank = content.as_ref().map(|c| c.0);
    let (media_type, size, artifact_type, first_seen) = match content {
        Some((_, media_type, size, artifact_type, first_seen)) => {
            (media_type, size.map(count), artifact_type, Some(time(first_seen)))
        }
        None => (None, None, None, None),
    };
    Ok(Some(DigestInfo {
        digest: digest.clone(),
        kind: content_kind(content_kind_rank)?,
        media_type,
        size,
        artifact_type,
        first_seen,
        repositories: repositories.items,
        repositories_next: repositories.next,
        references,
        referenced_by: referenced_by.items,
        referenced_by_next: referenced_by.next,
    }))
}

/// A page of the repositories holding a digest, `(registry, name)` after the cursor's (empty
/// strings on the first page, which sort before every repository).
pub(crate) fn digest_repositories(
    conn: &Connection,
    digest: &Digest,
    page: &PageRequest,
) -> Result<Page<DigestLocation>, StorageError> {
    let (registry, name) = DigestLocation::position_after(page)?;
    let d = digest.as_str();
    let links = query(
        conn,
        "SELECT r.id, r.registry, r.name, l.first_seen, l.seen_at, l.seen_event, \
                l.deleted_at, l.deleted_event, l.deleted_by, \
                r.deleted_at, r.deleted_event, r.deleted_by, l.pull_count, l.last_pulled \
         FROM links l JOIN repositories r ON r.id = l.repo_id \
         WHERE l.digest = ?1 AND (r.registry, r.name) > (?2, ?3) ORDER BY r.registry, r.name LIMIT ?4",
        params![d, registry, name, limit(page)],
        |row| {
            let seen = stamp(get(row, 4)?, get(row, 5)?);
            let link_deleted = tombstone(get(row, 6)?, get(row, 7)?, get(row, 8)?);
            let repo_deleted = tombstone(get(row, 9)?, get(row, 10)?, get(row, 11)?);
            let (live, deleted) = Tombstone::link_liveness(seen.as_ref(), link_deleted, repo_deleted);
            Ok((
                get::<i64>(row, 0)?,
                DigestLocation {
                    registry: get(row, 1)?,
                    repository: parse("repository name", get(row, 2)?)?,
                    live,
                    first_seen: opt_time(get(row, 3)?),
                    deleted,
                    tags: Vec::new(),
                    pull_count: count(get(row, 12)?),
                    last_pulled: opt_time(get(row, 13)?),
                },
            ))
        },
    )?;
    let live_tags = format!(
        "SELECT t.tag FROM repositories r JOIN tags t ON t.repo_id = r.id \
         LEFT JOIN links l ON l.repo_id = t.repo_id AND l.digest = t.digest \
         WHERE r.id = ?1 AND t.digest = ?2 AND {LIVE_TAG} ORDER BY t.tag"
    );
    let mut locations = Vec::with_capacity(links.len());
    for (repo_id, mut location) in links {
        location.tags = query(conn, &live_tags, params![repo_id, d], |row| parse("tag", get(row, 0)?))?;
        locations.push(location);
    }
    Ok(Page::from_overfetch(locations, page.effective_limit(), DigestLocation::cursor_key))
}

/// A page of the manifests referencing a digest, `(parent, kind)` after the cursor's.
pub(crate) fn digest_referrers(
    conn: &Connection,
    digest: &Digest,
    page: &PageRequest,
) -> Result<Page<Referrer>, StorageError> {
    let (parent, rank) = match &page.after {
        None => (String::new(), -1),
        Some(c) => {
            let r = Referrer::from_cursor(c)?;
            (r.digest.to_string(), reference_rank(r.kind))
        }
    };
    let referrers = query(
        conn,
        "SELECT parent, kind FROM content_references \
         WHERE child = ?1 AND (parent, kind) > (?2, ?3) ORDER BY parent, kind LIMIT ?4",
        params![digest.as_str(), parent, rank, limit(page)],
        |row| Ok(Referrer { digest: parse("digest", get(row, 0)?)?, kind: reference_kind(get(row, 1)?)? }),
    )?;
    Ok(Page::from_overfetch(referrers, page.effective_limit(), Referrer::cursor_key))
}

/// The columns of `events` in `LogEntry` order.
const EVENT_COLUMNS: &str = "id, at, action, registry, repository, tag, digest, media_type, kind, actor, \
     client_ip, method, user_agent, source_instance, counted, raw";

fn log_entry(row: &Row<'_>) -> Result<LogEntry, StorageError> {
    let kind: String = get(row, 8)?;
    Ok(LogEntry {
        id: get(row, 0)?,
        timestamp: time(get(row, 1)?),
        action: Action::from(get::<String>(row, 2)?.as_str()),
        registry: get(row, 3)?,
        repository: parse("repository name", get(row, 4)?)?,
        tag: parse_opt("tag", get(row, 5)?)?,
        digest: parse_opt("digest", get(row, 6)?)?,
        media_type: get(row, 7)?,
        kind: ContentKind::parse(&kind).ok_or_else(|| corrupt("content kind", &kind))?,
        actor: get(row, 9)?,
        client_ip: get(row, 10)?,
        method: get(row, 11)?,
        user_agent: get(row, 12)?,
        source_instance: get(row, 13)?,
        counted: get(row, 14)?,
        raw: get(row, 15)?,
    })
}

pub(crate) fn events(conn: &Connection, q: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
    let mut f = Filters::default();
    let mut eq = |column: &str, value: Option<String>| {
        if let Some(v) = value {
            let p = f.param(v);
            f.cond(format!("{column} = {p}"));
        }
    };
    eq("registry", q.registry.clone());
    eq("repository", q.repository.as_ref().map(|r| r.to_string()));
    eq("tag", q.tag.as_ref().map(|t| t.to_string()));
    eq("digest", q.digest.as_ref().map(|d| d.to_string()));
    eq("action", q.action.as_ref().map(|a| a.as_str().to_owned()));
    eq("actor", q.actor.clone());
    eq("client_ip", q.client_ip.clone());
    if let Some(since) = q.since {
        let p = f.param(since.unix_micros());
        f.cond(format!("at >= {p}"));
    }
    if let Some(until) = q.until {
        let p = f.param(until.unix_micros());
        f.cond(format!("at < {p}"));
    }
    if let Some((m, id)) = time_cursor(&q.page)? {
        let (a, b) = (f.param(m), f.param(id));
        f.cond(format!("(at, id) < ({a}, {b})"));
    }
    let lim = f.param(limit(&q.page));
    let sql_text = format!(
        "SELECT {EVENT_COLUMNS} FROM events {} ORDER BY at DESC, id DESC LIMIT {lim}",
        f.where_clause()
    );
    let items = f.rows(conn, &sql_text, log_entry)?;
    Ok(Page::from_overfetch(items, q.page.effective_limit(), |e| {
        vec![e.timestamp.unix_micros().to_string(), e.id.clone()]
    }))
}

pub(crate) fn repository_stats(
    conn: &Connection,
    repo: &RepoRef,
) -> Result<Option<RepositoryStats>, StorageError> {
    let sql_text = format!(
        "SELECT r.id, r.registry, r.name, {}, \
                (SELECT count(*) FROM links l WHERE l.repo_id = r.id AND {LIVE_LINK}), \
                r.push_count, r.pull_count, r.first_push, r.last_push, r.first_pull, r.last_pull, \
                r.seen_at, r.seen_event, r.deleted_at, r.deleted_event, r.deleted_by \
         FROM repositories r WHERE r.registry = ?1 AND r.name = ?2",
        count_live_tags()
    );
    let found = query(conn, &sql_text, params![repo.registry, repo.repository.as_str()], |row| {
        Ok((
            get::<i64>(row, 0)?,
            RepositoryStats {
                registry: get(row, 1)?,
                repository: parse("repository name", get(row, 2)?)?,
                tag_count: count(get(row, 3)?),
                live_digests: count(get(row, 4)?),
                push_count: count(get(row, 5)?),
                pull_count: count(get(row, 6)?),
                first_push: opt_time(get(row, 7)?),
                last_push: opt_time(get(row, 8)?),
                first_pull: opt_time(get(row, 9)?),
                last_pull: opt_time(get(row, 10)?),
                pushers: Vec::new(),
                pullers: Vec::new(),
                deleted: repo_tombstone(row, 11).map_err(sql)?,
            },
        ))
    })?
    .pop();
    let Some((id, mut stats)) = found else { return Ok(None) };
    let actors = query(
        conn,
        "SELECT role, actor FROM repository_actors WHERE repo_id = ?1 ORDER BY role, actor",
        params![id],
        |row| Ok((get::<String>(row, 0)?, get::<String>(row, 1)?)),
    )?;
    for (role, actor) in actors {
        match role.as_str() {
            "push" => stats.pushers.push(actor),
            "pull" => stats.pullers.push(actor),
            other => return Err(corrupt("actor role", other)),
        }
    }
    Ok(Some(stats))
}

pub(crate) fn inventory(conn: &Connection, q: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
    let want = q.page.effective_limit() + 1;
    let mut items = Vec::with_capacity(want);
    live_tags(conn, &q.filter, &q.page, want, true, |row| {
        items.push(inventory_item(row)?);
        Ok(items.len() < want)
    })?;
    Ok(Page::from_overfetch(items, q.page.effective_limit(), InventoryItem::sort_key))
}

/// The inventory's walk, fed to the page's [`UnusedWalk`] until it has enough. A tag the walk
/// does not list is passed by its key alone, and media types are read for the page's items
/// only: most walked tags are in use.
pub(crate) fn unused(conn: &Connection, q: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
    let mut walk = UnusedWalk::new(q);
    live_tags(conn, &q.filter, &q.page, walk.remaining(), false, |row| {
        let pushed_at = time(get(row, 5)?);
        let last_pulled = opt_time(get(row, 6)?).max(opt_time(get(row, 7)?));
        if walk.lists(pushed_at, last_pulled) {
            Ok(walk.take(UnusedItem { item: inventory_item(row)?, pushed_at, last_pulled }))
        } else {
            Ok(walk.pass(vec![get(row, 0)?, get(row, 1)?, get(row, 2)?]))
        }
    })?;
    let mut page = walk.finish();
    let mut stmt = conn.prepare_cached("SELECT media_type FROM content WHERE digest = ?1").map_err(sql)?;
    for u in &mut page.items {
        u.item.media_type =
            stmt.query_row([u.item.digest.as_str()], |r| r.get(0)).optional().map_err(sql)?.flatten();
    }
    Ok(page)
}

/// A row of [`live_tags`] as an inventory item (its media type, where the row has it).
fn inventory_item(row: &Row) -> Result<InventoryItem, StorageError> {
    Ok(InventoryItem {
        registry: get(row, 0)?,
        repository: parse("repository name", get(row, 1)?)?,
        tag: parse("tag", get(row, 2)?)?,
        digest: parse("digest", get(row, 3)?)?,
        media_type: get(row, 4)?,
    })
}

/// The live tags in inventory order after the page's cursor, at most `most` of them, each
/// row (registry, repository, tag, digest, media type or NULL without `media_types`, set
/// time, last pull, link's last pull) handed to `take` until it returns false or they run
/// out; the statement steps no further than that.
fn live_tags(
    conn: &Connection,
    filter: &LiveTagFilter,
    page: &PageRequest,
    most: usize,
    media_types: bool,
    mut take: impl FnMut(&Row) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    let mut f = Filters::default();
    f.cond(LIVE_TAG.to_owned());
    let registry = filter.registry.as_ref();
    if let Some(registry) = registry {
        let p = f.param(registry.clone());
        f.cond(format!("r.registry = {p}"));
    }
    if let Some(m) = &filter.repository {
        name_match(&mut f, m);
    }
    if let Some(tag) = &filter.tag {
        let p = f.param(tag.to_string());
        f.cond(format!("t.tag = {p}"));
    }
    if let Some(c) = &page.after {
        let key = c.to_key(3)?;
        let (a, b, t) = (f.param(key[0].clone()), f.param(key[1].clone()), f.param(key[2].clone()));
        // The two-column bound lets the repository key start at the cursor.
        f.cond(format!("(r.registry, r.name) >= ({a}, {b})"));
        f.cond(format!("(r.registry, r.name, t.tag) > ({a}, {b}, {t})"));
        seek_name(&mut f, registry, &key);
    }
    let lim = f.param(i64::try_from(most).unwrap_or(i64::MAX));
    let (media_type, content) = if media_types {
        ("c.media_type", "LEFT JOIN content c ON c.digest = t.digest")
    } else {
        ("NULL", "")
    };
    // CROSS JOIN keeps repositories as the outer loop, read in key order, and each one's
    // tags by key: the rows come in list order, and a page stops after `limit` of them
    // instead of sorting every live tag.
    let sql_text = format!(
        "SELECT r.registry, r.name, t.tag, t.digest, {media_type}, t.set_at, t.last_pulled, l.last_pulled \
         FROM repositories r CROSS JOIN tags t ON t.repo_id = r.id \
         LEFT JOIN links l ON l.repo_id = t.repo_id AND l.digest = t.digest \
         {content} {} ORDER BY r.registry, r.name, t.tag LIMIT {lim}",
        f.where_clause()
    );
    let mut stmt = conn.prepare_cached(&sql_text).map_err(sql)?;
    let mut rows = stmt.query(params_from_iter(f.params.iter())).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        if !take(row)? {
            break;
        }
    }
    Ok(())
}

pub(crate) fn quarantined(
    conn: &Connection,
    page: &QuarantineQuery,
) -> Result<Page<QuarantineRecord>, StorageError> {
    let mut f = Filters::default();
    if let Some((m, key)) = time_cursor(page)? {
        let (a, b) = (f.param(m), f.param(key));
        f.cond(format!("(received_at, key) < ({a}, {b})"));
    }
    let lim = f.param(limit(page));
    let sql_text = format!(
        "SELECT key, registry, received_at, reason, raw FROM quarantine {} \
         ORDER BY received_at DESC, key DESC LIMIT {lim}",
        f.where_clause()
    );
    let items = f.rows(conn, &sql_text, |row| {
        Ok(QuarantineRecord {
            key: get(row, 0)?,
            registry: get(row, 1)?,
            received_at: time(get(row, 2)?),
            reason: get(row, 3)?,
            raw: get(row, 4)?,
        })
    })?;
    Ok(Page::from_overfetch(items, page.effective_limit(), |r| {
        vec![r.received_at.unix_micros().to_string(), r.key.clone()]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds_cover_every_continuation() {
        let (lo, hi) = prefix_bounds("Lib");
        assert_eq!(lo, "lib");
        for name in ["lib", "lib/x", "library/alpine", "lib~"] {
            assert!(name >= lo.as_str() && name < hi.as_str(), "{name}");
        }
        assert!("lia" < lo.as_str() && "lic" > hi.as_str());
    }
}
