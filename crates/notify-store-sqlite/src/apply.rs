//! Writes: one plan as a handful of row merges, inside the writer's transaction.
//!
//! The event insert comes first and is the dedup gate (`ON CONFLICT (id) DO NOTHING`): when it
//! changes no row the event is a duplicate and nothing else is written. Otherwise every row a
//! command touches is read once, merged in Rust with exactly the rules of the reference store
//! (its `State::run`, line for line), and written back once if it changed. Reading and then
//! writing is safe because the writer holds SQLite's write lock for the whole transaction: no
//! other connection, in this process or another, can change the rows in between.

use std::collections::BTreeMap;

use notify_core::command::{Content, Count};
use notify_core::query::QuarantineRecord;
use notify_core::{
    ApplyOutcome, Command, ContentKind, Digest, Plan, RepoRef, Stamp, StorageError, Tag, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{classify, corrupt};
use crate::kinds::{content_kind, content_rank, reference_rank};

const INSERT_EVENT: &str = "INSERT INTO events (id, at, action, registry, repository, tag, digest, media_type, \
     kind, actor, client_ip, method, user_agent, source_instance, counted, raw) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) ON CONFLICT (id) DO NOTHING";

const INSERT_QUARANTINE: &str = "INSERT INTO quarantine (key, registry, received_at, reason, raw) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key) DO NOTHING";

const LOAD_REPO: &str = "SELECT id, seen_at, seen_event, deleted_at, deleted_event, deleted_by, push_count, \
     pull_count, first_push, last_push, first_pull, last_pull FROM repositories WHERE registry = ?1 AND name = ?2";
const INSERT_REPO: &str = "INSERT INTO repositories (registry, name) VALUES (?1, ?2)";
const UPDATE_REPO: &str = "UPDATE repositories SET seen_at = ?2, seen_event = ?3, deleted_at = ?4, \
     deleted_event = ?5, deleted_by = ?6, push_count = ?7, pull_count = ?8, first_push = ?9, last_push = ?10, \
     first_pull = ?11, last_pull = ?12 WHERE id = ?1";
const INSERT_ACTOR: &str =
    "INSERT INTO repository_actors (repo_id, role, actor) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";

const LOAD_LINK: &str = "SELECT first_seen, seen_at, seen_event, deleted_at, deleted_event, deleted_by, \
     pull_count, last_pulled FROM links WHERE repo_id = ?1 AND digest = ?2";
const UPSERT_LINK: &str = "INSERT INTO links (repo_id, digest, first_seen, seen_at, seen_event, deleted_at, \
     deleted_event, deleted_by, pull_count, last_pulled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
     ON CONFLICT (repo_id, digest) DO UPDATE SET first_seen = excluded.first_seen, seen_at = excluded.seen_at, \
     seen_event = excluded.seen_event, deleted_at = excluded.deleted_at, deleted_event = excluded.deleted_event, \
     deleted_by = excluded.deleted_by, pull_count = excluded.pull_count, last_pulled = excluded.last_pulled";

const LOAD_TAG: &str = "SELECT set_at, set_event, digest, actor, push_count, pull_count, last_pulled \
     FROM tags WHERE repo_id = ?1 AND tag = ?2";
const UPSERT_TAG: &str = "INSERT INTO tags (repo_id, tag, set_at, set_event, digest, actor, push_count, \
     pull_count, last_pulled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
     ON CONFLICT (repo_id, tag) DO UPDATE SET set_at = excluded.set_at, set_event = excluded.set_event, \
     digest = excluded.digest, actor = excluded.actor, push_count = excluded.push_count, \
     pull_count = excluded.pull_count, last_pulled = excluded.last_pulled";
// The same stamp twice can only come from one plan: the later command wins, as in the
// reference store's history map.
const UPSERT_HISTORY: &str = "INSERT INTO tag_history (repo_id, tag, at, event_id, digest, actor) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (repo_id, tag, at, event_id) \
     DO UPDATE SET digest = excluded.digest, actor = excluded.actor";

const LOAD_CONTENT: &str =
    "SELECT kind, media_type, size, artifact_type, first_seen FROM content WHERE digest = ?1";
const UPSERT_CONTENT: &str = "INSERT INTO content (digest, kind, media_type, size, artifact_type, first_seen) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (digest) DO UPDATE SET kind = excluded.kind, \
     media_type = excluded.media_type, size = excluded.size, artifact_type = excluded.artifact_type, \
     first_seen = excluded.first_seen";
// Merges the declared media type and size of a reference into the greatest known; rows that
// gain nothing are left alone.
const UPSERT_REFERENCE: &str = "INSERT INTO content_references (parent, child, kind, media_type, size) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (parent, child, kind) DO UPDATE SET \
     media_type = CASE WHEN excluded.media_type IS NOT NULL \
                        AND (media_type IS NULL OR excluded.media_type > media_type) \
                       THEN excluded.media_type ELSE media_type END, \
     size = max(size, excluded.size) \
     WHERE (excluded.media_type IS NOT NULL AND (media_type IS NULL OR excluded.media_type > media_type)) \
        OR excluded.size > size";

fn sql(e: rusqlite::Error) -> StorageError {
    classify("applying an event", e)
}

/// Sizes are `u64` in the model and signed 64-bit integers in SQLite; no registry sends more
/// than `i64::MAX` (the core refuses it at parse time), so a larger one cannot be stored.
fn size(s: u64) -> Result<i64, StorageError> {
    i64::try_from(s).map_err(|e| StorageError::rejected(format!("size {s} exceeds SQLite's integers"), e))
}

fn micros(t: Timestamp) -> i64 {
    t.unix_micros()
}

fn time(m: Option<i64>) -> Option<Timestamp> {
    m.map(Timestamp::from_unix_micros)
}

fn stamp(at: Option<i64>, event: Option<String>) -> Option<Stamp> {
    Some(Stamp { at: Timestamp::from_unix_micros(at?), event_id: event? })
}

/// A last-writer-wins register of a delete.
#[derive(Debug, Clone, PartialEq)]
struct Deleted {
    stamp: Stamp,
    actor: Option<String>,
}

fn deleted(at: Option<i64>, event: Option<String>, actor: Option<String>) -> Option<Deleted> {
    Some(Deleted { stamp: stamp(at, event)?, actor })
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

/// The stamp's columns, `(at, event)`, NULL when unset.
fn stamp_columns(s: &Option<Stamp>) -> (Option<i64>, Option<&str>) {
    (s.as_ref().map(|s| micros(s.at)), s.as_ref().map(|s| s.event_id.as_str()))
}

/// The delete register's columns, `(at, event, actor)`.
fn deleted_columns(d: &Option<Deleted>) -> (Option<i64>, Option<&str>, Option<&str>) {
    match d {
        None => (None, None, None),
        Some(d) => (Some(micros(d.stamp.at)), Some(d.stamp.event_id.as_str()), d.actor.as_deref()),
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct RepoRow {
    seen: Option<Stamp>,
    deleted: Option<Deleted>,
    push_count: i64,
    pull_count: i64,
    first_push: Option<Timestamp>,
    last_push: Option<Timestamp>,
    first_pull: Option<Timestamp>,
    last_pull: Option<Timestamp>,
}

impl RepoRow {
    /// Reads the columns of [`LOAD_REPO`] after the id.
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RepoRow {
            seen: stamp(row.get(1)?, row.get(2)?),
            deleted: deleted(row.get(3)?, row.get(4)?, row.get(5)?),
            push_count: row.get(6)?,
            pull_count: row.get(7)?,
            first_push: time(row.get(8)?),
            last_push: time(row.get(9)?),
            first_pull: time(row.get(10)?),
            last_pull: time(row.get(11)?),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct LinkRow {
    first_seen: Option<Timestamp>,
    seen: Option<Stamp>,
    deleted: Option<Deleted>,
    pull_count: i64,
    last_pulled: Option<Timestamp>,
}

/// The tag register: the newest history entry (a set when it has a digest).
#[derive(Debug, Clone, PartialEq)]
struct TagSet {
    stamp: Stamp,
    digest: Option<String>,
    actor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct TagRow {
    set: Option<TagSet>,
    push_count: i64,
    pull_count: i64,
    last_pulled: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
struct ContentRow {
    kind: ContentKind,
    media_type: Option<String>,
    size: Option<i64>,
    artifact_type: Option<String>,
    first_seen: Timestamp,
}

/// A row as read (`None`: not stored yet) and as merged so far.
#[derive(Debug)]
struct Loaded<T> {
    before: Option<T>,
    now: T,
}

impl<T: Clone + PartialEq> Loaded<T> {
    fn new(before: Option<T>, default: impl FnOnce() -> T) -> Self {
        let now = before.clone().unwrap_or_else(default);
        Loaded { before, now }
    }

    fn changed(&self) -> bool {
        self.before.as_ref() != Some(&self.now)
    }
}

type RepoKey = (String, String);

/// The rows one plan touches, read on first use and written back at the end.
struct Work<'c> {
    conn: &'c Connection,
    repo_ids: BTreeMap<RepoKey, i64>,
    repos: BTreeMap<i64, Loaded<RepoRow>>,
    links: BTreeMap<(i64, String), Loaded<LinkRow>>,
    tags: BTreeMap<(i64, String), Loaded<TagRow>>,
    content: BTreeMap<String, Loaded<ContentRow>>,
}

impl<'c> Work<'c> {
    fn new(conn: &'c Connection) -> Self {
        Work {
            conn,
            repo_ids: BTreeMap::new(),
            repos: BTreeMap::new(),
            links: BTreeMap::new(),
            tags: BTreeMap::new(),
            content: BTreeMap::new(),
        }
    }

    /// The repository's id, creating its row when this is the first event naming it.
    fn repo(&mut self, repo: &RepoRef) -> Result<i64, StorageError> {
        let key = (repo.registry.clone(), repo.repository.to_string());
        if let Some(id) = self.repo_ids.get(&key) {
            return Ok(*id);
        }
        let found = self
            .conn
            .prepare_cached(LOAD_REPO)
            .map_err(sql)?
            .query_row(params![key.0, key.1], |row| Ok((row.get::<_, i64>(0)?, RepoRow::read(row)?)))
            .optional()
            .map_err(sql)?;
        let (id, row) = match found {
            Some(found) => found,
            None => {
                self.conn
                    .prepare_cached(INSERT_REPO)
                    .map_err(sql)?
                    .execute(params![key.0, key.1])
                    .map_err(sql)?;
                (self.conn.last_insert_rowid(), RepoRow::default())
            }
        };
        self.repo_ids.insert(key, id);
        self.repos.insert(id, Loaded::new(Some(row), RepoRow::default));
        Ok(id)
    }

    fn repo_row(&mut self, id: i64) -> Result<&mut RepoRow, StorageError> {
        self.repos.get_mut(&id).map(|r| &mut r.now).ok_or_else(|| corrupt("repository id", id))
    }

    fn link(&mut self, repo_id: i64, digest: &Digest) -> Result<&mut LinkRow, StorageError> {
        let key = (repo_id, digest.to_string());
        if !self.links.contains_key(&key) {
            let before = self
                .conn
                .prepare_cached(LOAD_LINK)
                .map_err(sql)?
                .query_row(params![repo_id, key.1], |row| {
                    Ok(LinkRow {
                        first_seen: time(row.get(0)?),
                        seen: stamp(row.get(1)?, row.get(2)?),
                        deleted: deleted(row.get(3)?, row.get(4)?, row.get(5)?),
                        pull_count: row.get(6)?,
                        last_pulled: time(row.get(7)?),
                    })
                })
                .optional()
                .map_err(sql)?;
            self.links.insert(key.clone(), Loaded::new(before, LinkRow::default));
        }
        self.links.get_mut(&key).map(|l| &mut l.now).ok_or_else(|| corrupt("link", digest))
    }

    fn tag(&mut self, repo_id: i64, tag: &Tag) -> Result<&mut TagRow, StorageError> {
        let key = (repo_id, tag.to_string());
        if !self.tags.contains_key(&key) {
            let before = self
                .conn
                .prepare_cached(LOAD_TAG)
                .map_err(sql)?
                .query_row(params![repo_id, key.1], |row| {
                    let set = stamp(row.get(0)?, row.get(1)?)
                        .map(|stamp| -> rusqlite::Result<TagSet> {
                            Ok(TagSet { stamp, digest: row.get(2)?, actor: row.get(3)? })
                        })
                        .transpose()?;
                    Ok(TagRow {
                        set,
                        push_count: row.get(4)?,
                        pull_count: row.get(5)?,
                        last_pulled: time(row.get(6)?),
                    })
                })
                .optional()
                .map_err(sql)?;
            self.tags.insert(key.clone(), Loaded::new(before, TagRow::default));
        }
        self.tags.get_mut(&key).map(|t| &mut t.now).ok_or_else(|| corrupt("tag", tag))
    }

    fn run(&mut self, command: &Command) -> Result<(), StorageError> {
        match command {
            Command::UpsertContent(c) => self.upsert_content(c)?,
            // How the digest was observed (push, mount, pull) stays in the log; for liveness
            // every observation counts the same.
            Command::LinkRepository { repo, digest, stamp, .. } => {
                let id = self.repo(repo)?;
                let link = self.link(id, digest)?;
                min_time(&mut link.first_seen, stamp.at);
                max_stamp(&mut link.seen, stamp);
                max_stamp(&mut self.repo_row(id)?.seen, stamp);
            }
            Command::SetTag { repo, tag, digest, stamp, actor } => {
                let id = self.repo(repo)?;
                self.set_tag(id, tag, Some(digest), stamp, actor)?;
                max_stamp(&mut self.repo_row(id)?.seen, stamp);
            }
            Command::DeleteTag { repo, tag, stamp, actor } => {
                let id = self.repo(repo)?;
                self.set_tag(id, tag, None, stamp, actor)?;
            }
            Command::DeleteContent { repo, digest, stamp, actor, .. } => {
                let id = self.repo(repo)?;
                keep_latest(&mut self.link(id, digest)?.deleted, stamp, actor);
            }
            Command::DeleteRepository { repo, stamp, actor } => {
                let id = self.repo(repo)?;
                keep_latest(&mut self.repo_row(id)?.deleted, stamp, actor);
            }
            Command::CountPush(c) => self.count(c, true)?,
            Command::CountPull(c) => self.count(c, false)?,
        }
        Ok(())
    }

    fn set_tag(
        &mut self,
        repo_id: i64,
        tag: &Tag,
        digest: Option<&Digest>,
        stamp: &Stamp,
        actor: &Option<String>,
    ) -> Result<(), StorageError> {
        let digest = digest.map(|d| d.to_string());
        self.conn
            .prepare_cached(UPSERT_HISTORY)
            .map_err(sql)?
            .execute(params![repo_id, tag.as_str(), micros(stamp.at), stamp.event_id, digest, actor])
            .map_err(sql)?;
        let t = self.tag(repo_id, tag)?;
        if t.set.as_ref().is_none_or(|s| s.stamp <= *stamp) {
            t.set = Some(TagSet { stamp: stamp.clone(), digest, actor: actor.clone() });
        }
        Ok(())
    }

    fn upsert_content(&mut self, c: &Content) -> Result<(), StorageError> {
        let digest = c.digest.to_string();
        if !self.content.contains_key(&digest) {
            let before = self
                .conn
                .prepare_cached(LOAD_CONTENT)
                .map_err(sql)?
                .query_row(params![digest], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get::<_, i64>(4)?))
                })
                .optional()
                .map_err(sql)?
                .map(|(kind, media_type, size, artifact_type, first_seen)| {
                    Ok::<_, StorageError>(ContentRow {
                        kind: content_kind(Some(kind))?,
                        media_type,
                        size,
                        artifact_type,
                        first_seen: Timestamp::from_unix_micros(first_seen),
                    })
                })
                .transpose()?;
            let fresh = || ContentRow {
                kind: ContentKind::Unknown,
                media_type: None,
                size: None,
                artifact_type: None,
                first_seen: c.seen,
            };
            self.content.insert(digest.clone(), Loaded::new(before, fresh));
        }
        let new_size = c.size.map(size).transpose()?;
        let state =
            self.content.get_mut(&digest).map(|l| &mut l.now).ok_or_else(|| corrupt("content", &digest))?;
        if (c.kind, &c.media_type) > (state.kind, &state.media_type) {
            state.kind = c.kind;
            state.media_type = c.media_type.clone();
        }
        state.size = state.size.max(new_size);
        state.artifact_type = state.artifact_type.clone().max(c.artifact_type.clone());
        state.first_seen = state.first_seen.min(c.seen);
        let mut insert = self.conn.prepare_cached(UPSERT_REFERENCE).map_err(sql)?;
        for r in &c.references {
            insert
                .execute(params![
                    digest,
                    r.digest.as_str(),
                    reference_rank(r.kind),
                    r.media_type,
                    size(r.size)?
                ])
                .map_err(sql)?;
        }
        Ok(())
    }

    fn count(&mut self, c: &Count, push: bool) -> Result<(), StorageError> {
        let id = self.repo(&c.repo)?;
        let r = self.repo_row(id)?;
        let role = if push {
            r.push_count += 1;
            min_time(&mut r.first_push, c.at);
            max_time(&mut r.last_push, c.at);
            "push"
        } else {
            r.pull_count += 1;
            min_time(&mut r.first_pull, c.at);
            max_time(&mut r.last_pull, c.at);
            "pull"
        };
        if let Some(actor) = &c.actor {
            self.conn
                .prepare_cached(INSERT_ACTOR)
                .map_err(sql)?
                .execute(params![id, role, actor])
                .map_err(sql)?;
        }
        if let Some(tag) = &c.tag {
            let t = self.tag(id, tag)?;
            if push {
                t.push_count += 1;
            } else {
                t.pull_count += 1;
                max_time(&mut t.last_pulled, c.at);
            }
        }
        if let (false, Some(digest)) = (push, &c.digest) {
            let link = self.link(id, digest)?;
            link.pull_count += 1;
            max_time(&mut link.last_pulled, c.at);
        }
        Ok(())
    }

    /// Writes back every row that changed.
    fn flush(self) -> Result<(), StorageError> {
        let conn = self.conn;
        for (id, r) in self.repos.iter().filter(|(_, r)| r.changed()) {
            let r = &r.now;
            let (seen_at, seen_event) = stamp_columns(&r.seen);
            let (deleted_at, deleted_event, deleted_by) = deleted_columns(&r.deleted);
            conn.prepare_cached(UPDATE_REPO)
                .map_err(sql)?
                .execute(params![
                    id,
                    seen_at,
                    seen_event,
                    deleted_at,
                    deleted_event,
                    deleted_by,
                    r.push_count,
                    r.pull_count,
                    r.first_push.map(micros),
                    r.last_push.map(micros),
                    r.first_pull.map(micros),
                    r.last_pull.map(micros),
                ])
                .map_err(sql)?;
        }
        for ((repo_id, digest), l) in self.links.iter().filter(|(_, l)| l.changed()) {
            let l = &l.now;
            let (seen_at, seen_event) = stamp_columns(&l.seen);
            let (deleted_at, deleted_event, deleted_by) = deleted_columns(&l.deleted);
            conn.prepare_cached(UPSERT_LINK)
                .map_err(sql)?
                .execute(params![
                    repo_id,
                    digest,
                    l.first_seen.map(micros),
                    seen_at,
                    seen_event,
                    deleted_at,
                    deleted_event,
                    deleted_by,
                    l.pull_count,
                    l.last_pulled.map(micros),
                ])
                .map_err(sql)?;
        }
        for ((repo_id, tag), t) in self.tags.iter().filter(|(_, t)| t.changed()) {
            let t = &t.now;
            let set = t.set.as_ref();
            conn.prepare_cached(UPSERT_TAG)
                .map_err(sql)?
                .execute(params![
                    repo_id,
                    tag,
                    set.map(|s| micros(s.stamp.at)),
                    set.map(|s| s.stamp.event_id.as_str()),
                    set.and_then(|s| s.digest.as_deref()),
                    set.and_then(|s| s.actor.as_deref()),
                    t.push_count,
                    t.pull_count,
                    t.last_pulled.map(micros),
                ])
                .map_err(sql)?;
        }
        for (digest, c) in self.content.iter().filter(|(_, c)| c.changed()) {
            let c = &c.now;
            conn.prepare_cached(UPSERT_CONTENT)
                .map_err(sql)?
                .execute(params![
                    digest,
                    content_rank(c.kind),
                    c.media_type,
                    c.size,
                    c.artifact_type,
                    micros(c.first_seen)
                ])
                .map_err(sql)?;
        }
        Ok(())
    }
}

/// Stores one plan: the log entry, and the projection when the entry is new. Runs inside the
/// caller's transaction (a savepoint of the writer's batch).
pub(crate) fn apply_plan(conn: &Connection, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
    let e = &plan.entry;
    let inserted = conn
        .prepare_cached(INSERT_EVENT)
        .map_err(sql)?
        .execute(params![
            e.id,
            micros(e.timestamp),
            e.action.as_str(),
            e.registry,
            e.repository.as_str(),
            e.tag.as_ref().map(|t| t.as_str()),
            e.digest.as_ref().map(|d| d.as_str()),
            e.media_type,
            e.kind.as_str(),
            e.actor,
            e.client_ip,
            e.method,
            e.user_agent,
            e.source_instance,
            e.counted,
            e.raw,
        ])
        .map_err(sql)?;
    if inserted == 0 {
        return Ok(ApplyOutcome::Duplicate);
    }
    let mut work = Work::new(conn);
    for command in &plan.commands {
        work.run(command)?;
    }
    work.flush()?;
    Ok(ApplyOutcome::Applied)
}

/// Keeps a record, unless one with its key is kept already.
pub(crate) fn quarantine(conn: &Connection, r: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
    let inserted = conn
        .prepare_cached(INSERT_QUARANTINE)
        .map_err(|e| classify("quarantining an event", e))?
        .execute(params![r.key, r.registry, micros(r.received_at), r.reason, r.raw])
        .map_err(|e| classify("quarantining an event", e))?;
    Ok(if inserted == 1 { ApplyOutcome::Applied } else { ApplyOutcome::Duplicate })
}

/// Removes at most `limit` log entries stamped before `before`, oldest first (through the
/// `events_at` index), and returns how many. Runs inside the caller's transaction.
pub(crate) fn prune_slice(conn: &Connection, before: Timestamp, limit: u64) -> Result<u64, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let removed = conn
        .prepare_cached(
            "DELETE FROM events WHERE rowid IN \
             (SELECT rowid FROM events WHERE at < ?1 ORDER BY at, id LIMIT ?2)",
        )
        .map_err(|e| classify("pruning the event log", e))?
        .execute(params![micros(before), limit])
        .map_err(|e| classify("pruning the event log", e))?;
    Ok(removed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_beyond_sqlite_integers_are_rejected_not_wrapped() {
        assert!(matches!(size(u64::MAX), Err(StorageError::Rejected { .. })));
        assert_eq!(size(i64::MAX as u64).unwrap(), i64::MAX);
    }
}
