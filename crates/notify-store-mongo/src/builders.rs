//! Every BSON document this crate sends: index specifications, filters, updates, sorts and
//! projections, built by pure functions from the core's types.
//!
//! Nothing here does I/O or reads a clock, so the exact documents are pinned by snapshot tests
//! (`tests/builders.rs`) and can be read without a server. The document shapes are described in
//! the crate docs; a few encodings carry the merge rules of `notify_core::command`:
//! - a [`Stamp`] is the embedded document `{t: <unix micros>, e: <event id>}`. MongoDB compares
//!   embedded documents field by field (BSON comparison order), so `$max` on such a document
//!   keeps the greatest stamp: last-writer-wins registers are single `$max` updates, with the
//!   register's payload (actor, digest) after `t` and `e`, where it never decides;
//! - a content record's kind and media type merge together (the greater kind wins, then the
//!   greater media type), so they are one string, `kind_key`: the kind's rank digit, then `:`
//!   and the media type when there is one. Byte order of these strings is exactly the order of
//!   `(kind, media type)` pairs, so `$max` merges them;
//! - counters are `$inc`, first/last times `$min`/`$max`, actor sets and reference sets
//!   `$addToSet`; tag history entries are upserts keyed by their stamp; a manifest's references
//!   are slots of an embedded document keyed by (kind, digest), whose declared media type and
//!   size merge by `$max`, with the referenced digests in an indexed array beside them.
//!
//! Without transactions, the projection writes that are not idempotent (those with `$inc`)
//! are *guarded* by the event id: their filter excludes documents whose `ev` array already
//! holds it, and the same update adds it (see the crate docs for the protocol).

use mongodb::bson::{Bson, DateTime, Document, doc};
use notify_core::command::{Content, Count};
use notify_core::query::{EventQuery, LiveTagFilter, NameMatch, QuarantineRecord};
use notify_core::{
    Command, ContentKind, Digest, LogEntry, ReferenceKind, RepoRef, Stamp, StorageError, Tag, Timestamp,
};

/// The field holding the ids of events whose guarded writes a document has taken, while those
/// events are being applied without a transaction.
pub const MARKERS: &str = "ev";

/// The collections, by role; their names are [`CollectionNames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Coll {
    /// The append-only event log, `_id` = event id: the dedup gate.
    Events,
    /// Content by digest.
    Content,
    /// One document per repository: registers, counters, actor sets.
    Repositories,
    /// One document per (repository, digest).
    Links,
    /// One document per (repository, tag): the tag register and its counters.
    Tags,
    /// One document per tag change.
    TagHistory,
    /// Events that cannot be modelled, `_id` = dedup key.
    Quarantine,
}

impl Coll {
    /// Every collection, in creation order.
    pub const ALL: [Coll; 7] = [
        Coll::Events,
        Coll::Content,
        Coll::Repositories,
        Coll::Links,
        Coll::Tags,
        Coll::TagHistory,
        Coll::Quarantine,
    ];

    /// The name without prefix.
    pub fn base_name(self) -> &'static str {
        match self {
            Coll::Events => "events",
            Coll::Content => "content",
            Coll::Repositories => "repositories",
            Coll::Links => "links",
            Coll::Tags => "tags",
            Coll::TagHistory => "tag_history",
            Coll::Quarantine => "quarantine",
        }
    }
}

/// The collection names under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionNames {
    prefix: String,
}

impl CollectionNames {
    /// Names with `prefix` prepended.
    pub fn new(prefix: &str) -> Self {
        CollectionNames { prefix: prefix.to_owned() }
    }

    /// The full name of `coll`.
    pub fn name(&self, coll: Coll) -> String {
        format!("{}{}", self.prefix, coll.base_name())
    }
}

// --- index specifications -----------------------------------------------------------------

/// Indexes of `coll` that earlier versions created and this one replaced, by name: dropped
/// on connect, where they exist.
pub fn superseded_indexes(coll: Coll) -> &'static [&'static str] {
    match coll {
        // `referenced` ({ref_digests: 1}) could not page referrers in order: `referrers`.
        Coll::Content => &["referenced"],
        _ => &[],
    }
}

/// One index, as `createIndexes` takes it.
fn index(name: &str, key: Document) -> Document {
    doc! { "key": key, "name": name }
}

fn unique_index(name: &str, key: Document) -> Document {
    doc! { "key": key, "name": name, "unique": true }
}

/// The indexes of `coll` (besides `_id`), each justified by the query it serves.
pub fn index_specs(coll: Coll) -> Vec<Document> {
    match coll {
        Coll::Events => vec![
            // The unfiltered log, newest first, and the `since`/`until` ranges.
            index("at_id", doc! { "at": -1, "_id": -1 }),
            // One index per selective filter, each followed by the sort key, so that every
            // single-filter query walks its index in order and stops after a page.
            index("registry_at", doc! { "registry": 1, "at": -1, "_id": -1 }),
            index("repository_at", doc! { "registry": 1, "repository": 1, "at": -1, "_id": -1 }),
            index("tag_at", doc! { "tag": 1, "at": -1, "_id": -1 }),
            index("digest_at", doc! { "digest": 1, "at": -1, "_id": -1 }),
            index("action_at", doc! { "action": 1, "at": -1, "_id": -1 }),
            index("actor_at", doc! { "actor": 1, "at": -1, "_id": -1 }),
            index("client_ip_at", doc! { "client_ip": 1, "at": -1, "_id": -1 }),
            // Events left pending by a crashed writer, for recovery; holds only those.
            doc! {
                "key": { "lease.until": 1 },
                "name": "pending",
                "partialFilterExpression": { "applied": false },
            },
        ],
        Coll::Content => vec![
            // `digest_referrers(d)`: the manifests whose references name `d`, a page at a
            // time in digest order.
            index("referrers", doc! { "ref_digests": 1, "_id": 1 }),
        ],
        Coll::Repositories => vec![
            // One document per repository; the list order and its cursor; prefix search
            // within a registry as a range on `repository`.
            unique_index("repository", doc! { "registry": 1, "repository": 1 }),
            // Prefix search across registries as a range on the name.
            index("name", doc! { "repository": 1, "registry": 1 }),
            markers_index(),
        ],
        Coll::Links => vec![
            unique_index("link", doc! { "registry": 1, "repository": 1, "digest": 1 }),
            // `digest(d).repositories`, in (registry, repository) order.
            index("digest", doc! { "digest": 1, "registry": 1, "repository": 1 }),
            markers_index(),
        ],
        Coll::Tags => vec![
            // One document per tag; `tags` and `inventory` in their order.
            unique_index("tag", doc! { "registry": 1, "repository": 1, "tag": 1 }),
            // The tags of a repository pointing at a digest.
            index("head_digest", doc! { "registry": 1, "repository": 1, "head.d": 1 }),
            markers_index(),
        ],
        Coll::TagHistory => vec![
            // One entry per change; `tag_history` newest first.
            unique_index("change", doc! { "registry": 1, "repository": 1, "tag": 1, "t": -1, "e": -1 }),
        ],
        Coll::Quarantine => vec![index("received", doc! { "received_at": -1, "_id": -1 })],
    }
}

/// Documents holding markers, for removing leftovers; sparse, so it holds only those.
fn markers_index() -> Document {
    doc! { "key": { MARKERS: 1 }, "name": "markers", "sparse": true }
}

/// The `createIndexes` command for `coll` named `name`. Creating an index that exists with
/// the same specification is a no-op, so this runs at every start-up.
pub fn create_indexes_command(name: &str, coll: Coll) -> Document {
    let indexes: Vec<Bson> = index_specs(coll).into_iter().map(Bson::Document).collect();
    doc! { "createIndexes": name, "indexes": indexes }
}

// --- value encodings ----------------------------------------------------------------------

fn opt_str(value: Option<&str>) -> Bson {
    value.map_or(Bson::Null, |s| Bson::String(s.to_owned()))
}

/// A stamp: `{t, e}`.
pub fn stamp(s: &Stamp) -> Document {
    doc! { "t": s.at.unix_micros(), "e": &s.event_id }
}

/// A delete register value: `{t, e, a}`.
pub fn delete_register(s: &Stamp, actor: Option<&str>) -> Document {
    doc! { "t": s.at.unix_micros(), "e": &s.event_id, "a": opt_str(actor) }
}

/// A tag register value: `{t, e, d, a}`, `d` null for a delete.
pub fn tag_head(s: &Stamp, digest: Option<&Digest>, actor: Option<&str>) -> Document {
    doc! {
        "t": s.at.unix_micros(),
        "e": &s.event_id,
        "d": opt_str(digest.map(Digest::as_str)),
        "a": opt_str(actor),
    }
}

/// The rank of a kind in [`ContentKind`]'s order, as one digit.
pub fn kind_rank(kind: ContentKind) -> char {
    match kind {
        ContentKind::Unknown => '0',
        ContentKind::Blob => '1',
        ContentKind::Manifest => '2',
        ContentKind::Index => '3',
    }
}

/// The merge key of a (kind, media type) pair; see the module docs.
pub fn kind_key(kind: ContentKind, media_type: Option<&str>) -> String {
    match media_type {
        None => kind_rank(kind).to_string(),
        Some(m) => format!("{}:{m}", kind_rank(kind)),
    }
}

/// A BSON date for people reading the collections; the exact value is the micros beside it.
pub fn human_date(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.unix_micros().div_euclid(1000))
}

fn size(value: u64, what: &str) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Rejected {
        message: format!("{what} {value} is larger than MongoDB's 64-bit integers"),
        source: None,
    })
}

// --- the event log ------------------------------------------------------------------------

/// How a log entry is inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState<'a> {
    /// Inside a transaction: applied as it becomes visible.
    Applied,
    /// Without a transaction: pending until every projection write is done.
    Pending {
        /// The plan's commands as JSON, so that any writer can finish them.
        commands: &'a str,
        /// The writer owning the entry.
        owner: &'a str,
        /// Until when (unix milliseconds).
        lease_until: i64,
    },
}

/// The log document of an entry.
pub fn log_entry(entry: &LogEntry, state: EntryState<'_>) -> Document {
    let mut d = doc! {
        "_id": &entry.id,
        "at": entry.timestamp.unix_micros(),
        "at_date": human_date(entry.timestamp),
        "action": entry.action.as_str(),
        "registry": &entry.registry,
        "repository": entry.repository.as_str(),
    };
    let optional = [
        ("tag", entry.tag.as_ref().map(Tag::as_str)),
        ("digest", entry.digest.as_ref().map(Digest::as_str)),
        ("media_type", entry.media_type.as_deref()),
    ];
    for (field, value) in optional {
        if let Some(v) = value {
            d.insert(field, v);
        }
    }
    d.insert("kind", entry.kind.as_str());
    let optional = [
        ("actor", entry.actor.as_deref()),
        ("client_ip", entry.client_ip.as_deref()),
        ("method", entry.method.as_deref()),
        ("user_agent", entry.user_agent.as_deref()),
        ("source_instance", entry.source_instance.as_deref()),
    ];
    for (field, value) in optional {
        if let Some(v) = value {
            d.insert(field, v);
        }
    }
    d.insert("counted", entry.counted);
    d.insert("raw", &entry.raw);
    match state {
        EntryState::Applied => {
            d.insert("applied", true);
        }
        EntryState::Pending { commands, owner, lease_until } => {
            d.insert("applied", false);
            d.insert("commands", commands);
            d.insert("lease", doc! { "owner": owner, "until": lease_until });
        }
    }
    d
}

/// The filter of one entry.
pub fn by_id(id: &str) -> Document {
    doc! { "_id": id }
}

/// Takes over a pending entry whose lease (as read) has expired; matches nothing if another
/// writer took it over or finished it meanwhile.
pub fn claim_filter(id: &str, owner: &str, until: i64) -> Document {
    doc! { "_id": id, "applied": false, "lease.owner": owner, "lease.until": until }
}

/// Sets the lease of a pending entry (claim and renewal).
pub fn lease_update(owner: &str, until: i64) -> Document {
    doc! { "$set": { "lease": { "owner": owner, "until": until } } }
}

/// The pending entry still owned by `owner`.
pub fn owned_filter(id: &str, owner: &str) -> Document {
    doc! { "_id": id, "applied": false, "lease.owner": owner }
}

/// Marks an entry applied, dropping what only pending entries need.
pub fn mark_applied_update() -> Document {
    doc! { "$set": { "applied": true }, "$unset": { "commands": "", "lease": "" } }
}

/// Gives a pending entry's lease up at once, so that a redelivery can finish it without
/// waiting: after an error that did not kill the writer.
pub fn release_update() -> Document {
    doc! { "$set": { "lease.until": 0_i64 } }
}

/// Pending entries whose lease expired before `now_ms`.
pub fn expired_pending_filter(now_ms: i64) -> Document {
    doc! { "applied": false, "lease.until": { "$lt": now_ms } }
}

/// What a writer needs to know about an existing entry.
pub fn entry_state_projection() -> Document {
    doc! { "applied": 1, "commands": 1, "lease": 1 }
}

// --- projection writes --------------------------------------------------------------------

/// One projection write: an upsert of one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// Where.
    pub coll: Coll,
    /// Which document (with the marker condition when guarded).
    pub filter: Document,
    /// How it changes.
    pub update: Document,
    /// Whether this write is guarded by a marker that must be removed afterwards.
    pub guarded: bool,
}

impl Write {
    fn new(coll: Coll, filter: Document, update: Document) -> Self {
        Write { coll, filter, update, guarded: false }
    }

    /// Guards a non-idempotent write with the event's marker, when there is one.
    fn guard(mut self, marker: Option<&str>) -> Self {
        if let Some(m) = marker {
            self.filter.insert(MARKERS, doc! { "$ne": m });
            let mut add = match self.update.remove("$addToSet") {
                Some(Bson::Document(add)) => add,
                _ => Document::new(),
            };
            add.insert(MARKERS, m);
            self.update.insert("$addToSet", add);
            self.guarded = true;
        }
        self
    }

    /// The filter of the written document without the marker condition.
    pub fn key(&self) -> Document {
        let mut key = self.filter.clone();
        key.remove(MARKERS);
        key
    }
}

/// The filter of a repository document.
pub fn repo_key(repo: &RepoRef) -> Document {
    doc! { "registry": &repo.registry, "repository": repo.repository.as_str() }
}

/// The filter of a tag document.
pub fn tag_key(repo: &RepoRef, tag: &Tag) -> Document {
    doc! { "registry": &repo.registry, "repository": repo.repository.as_str(), "tag": tag.as_str() }
}

/// The filter of a link document.
pub fn link_key(repo: &RepoRef, digest: &Digest) -> Document {
    doc! { "registry": &repo.registry, "repository": repo.repository.as_str(), "digest": digest.as_str() }
}

/// Creates the repository document if missing (commands that only make it known).
fn touch_repository(repo: &RepoRef) -> Write {
    Write::new(Coll::Repositories, repo_key(repo), doc! { "$setOnInsert": repo_key(repo) })
}

/// The field name of a reference in a content document's `refs`: references merge per
/// (digest, kind), so each pair has a slot whose declared media type and size merge by `$max`
/// (a missing media type, stored as null, is less than any). Digests hold no `$`; a `.` (legal
/// in a digest's algorithm) would split the path, so it is escaped, and `%` with it.
pub fn reference_slot(digest: &Digest, kind: ReferenceKind) -> String {
    let escaped = digest.as_str().replace('%', "%25").replace('.', "%2E");
    format!("{}~{escaped}", kind.as_str())
}

fn content_write(c: &Content) -> Result<Write, StorageError> {
    let mut max = doc! { "kind_key": kind_key(c.kind, c.media_type.as_deref()) };
    if let Some(s) = c.size {
        max.insert("size", size(s, "content size")?);
    }
    if let Some(a) = &c.artifact_type {
        max.insert("artifact_type", a);
    }
    // One slot per (digest, kind): a plan naming a pair twice merges it here first, since an
    // update document holds each path once.
    let mut slots: std::collections::BTreeMap<(&Digest, ReferenceKind), (Option<&str>, u64)> =
        Default::default();
    for r in &c.references {
        let slot = slots.entry((&r.digest, r.kind)).or_insert((None, 0));
        slot.0 = slot.0.max(r.media_type.as_deref());
        slot.1 = slot.1.max(r.size);
    }
    let mut referenced = std::collections::BTreeSet::new();
    for ((digest, kind), (media_type, declared_size)) in slots {
        let slot = format!("refs.{}", reference_slot(digest, kind));
        max.insert(format!("{slot}.d"), digest.as_str());
        max.insert(format!("{slot}.k"), kind.as_str());
        max.insert(format!("{slot}.m"), opt_str(media_type));
        max.insert(format!("{slot}.s"), size(declared_size, "reference size")?);
        referenced.insert(digest.as_str());
    }
    let mut update = doc! { "$max": max, "$min": { "first_seen": c.seen.unix_micros() } };
    if !referenced.is_empty() {
        let each: Vec<&str> = referenced.into_iter().collect();
        update.insert("$addToSet", doc! { "ref_digests": { "$each": each } });
    }
    Ok(Write::new(Coll::Content, doc! { "_id": c.digest.as_str() }, update))
}

fn count_writes(c: &Count, push: bool, marker: Option<&str>) -> Vec<Write> {
    let at = c.at.unix_micros();
    let (count, first, last, actors) = if push {
        ("push_count", "first_push", "last_push", "pushers")
    } else {
        ("pull_count", "first_pull", "last_pull", "pullers")
    };
    let mut update = doc! {
        "$inc": { count: 1_i64 },
        "$min": { first: at },
        "$max": { last: at },
    };
    if let Some(actor) = &c.actor {
        update.insert("$addToSet", doc! { actors: actor });
    }
    let mut writes = vec![Write::new(Coll::Repositories, repo_key(&c.repo), update).guard(marker)];
    if let Some(tag) = &c.tag {
        let update = if push {
            doc! { "$inc": { "push_count": 1_i64 } }
        } else {
            doc! { "$inc": { "pull_count": 1_i64 }, "$max": { "last_pulled": at } }
        };
        writes.push(Write::new(Coll::Tags, tag_key(&c.repo, tag), update).guard(marker));
    }
    if let (false, Some(digest)) = (push, &c.digest) {
        let update = doc! { "$inc": { "pull_count": 1_i64 }, "$max": { "last_pulled": at } };
        writes.push(Write::new(Coll::Links, link_key(&c.repo, digest), update).guard(marker));
    }
    writes
}

/// The writes of one command, in order. `marker` is the event id when applying without a
/// transaction: it guards the counter writes.
pub fn command_writes(command: &Command, marker: Option<&str>) -> Result<Vec<Write>, StorageError> {
    Ok(match command {
        Command::UpsertContent(c) => vec![content_write(c)?],
        Command::LinkRepository { repo, digest, stamp: s, .. } => vec![
            Write::new(
                Coll::Links,
                link_key(repo, digest),
                doc! { "$min": { "first_seen": s.at.unix_micros() }, "$max": { "seen": stamp(s) } },
            ),
            Write::new(Coll::Repositories, repo_key(repo), doc! { "$max": { "seen": stamp(s) } }),
        ],
        Command::SetTag { repo, tag, digest, stamp: s, actor } => vec![
            history_write(repo, tag, s, Some(digest), actor.as_deref()),
            Write::new(
                Coll::Tags,
                tag_key(repo, tag),
                doc! { "$max": { "head": tag_head(s, Some(digest), actor.as_deref()) } },
            ),
            Write::new(Coll::Repositories, repo_key(repo), doc! { "$max": { "seen": stamp(s) } }),
        ],
        Command::DeleteTag { repo, tag, stamp: s, actor } => vec![
            history_write(repo, tag, s, None, actor.as_deref()),
            Write::new(
                Coll::Tags,
                tag_key(repo, tag),
                doc! { "$max": { "head": tag_head(s, None, actor.as_deref()) } },
            ),
            touch_repository(repo),
        ],
        Command::DeleteContent { repo, digest, stamp: s, actor, .. } => vec![
            Write::new(
                Coll::Links,
                link_key(repo, digest),
                doc! { "$max": { "del": delete_register(s, actor.as_deref()) } },
            ),
            touch_repository(repo),
        ],
        Command::DeleteRepository { repo, stamp: s, actor } => vec![Write::new(
            Coll::Repositories,
            repo_key(repo),
            doc! { "$max": { "del": delete_register(s, actor.as_deref()) } },
        )],
        Command::CountPush(c) => count_writes(c, true, marker),
        Command::CountPull(c) => count_writes(c, false, marker),
    })
}

/// A tag history entry, keyed by its stamp. `$set` rather than `$setOnInsert`: a plan that
/// changes one tag twice at the same stamp ends with its last change, as in the reference store.
fn history_write(
    repo: &RepoRef,
    tag: &Tag,
    s: &Stamp,
    digest: Option<&Digest>,
    actor: Option<&str>,
) -> Write {
    let mut key = tag_key(repo, tag);
    key.insert("t", s.at.unix_micros());
    key.insert("e", &s.event_id);
    Write::new(
        Coll::TagHistory,
        key,
        doc! { "$set": { "d": opt_str(digest.map(Digest::as_str)), "a": opt_str(actor) } },
    )
}

/// Removes an event's marker from a document once the event is applied.
pub fn marker_removal(marker: &str) -> Document {
    doc! { "$pull": { MARKERS: marker } }
}

/// Documents holding any marker (string elements of the markers array).
pub fn marked_filter() -> Document {
    doc! { MARKERS: { "$gte": "" } }
}

// --- the quarantine -----------------------------------------------------------------------

/// The quarantine document of a record.
pub fn quarantine_record(r: &QuarantineRecord) -> Document {
    doc! {
        "_id": &r.key,
        "registry": opt_str(r.registry.as_deref()),
        "received_at": r.received_at.unix_micros(),
        "received_date": human_date(r.received_at),
        "reason": &r.reason,
        "raw": &r.raw,
    }
}

/// Descending `(field, _id)` keys strictly after the cursor `(micros, id)`.
fn before(field: &str, id_field: &str, micros: i64, id: &str) -> Document {
    doc! { "$or": [
        { field: { "$lt": micros } },
        { field: micros, id_field: { "$lt": id } },
    ] }
}

/// The quarantine page after the cursor `(micros, key)`.
pub fn quarantine_filter(after: Option<(i64, &str)>) -> Document {
    after.map_or_else(Document::new, |(t, key)| before("received_at", "_id", t, key))
}

/// Newest first, then greatest key first: the order of `quarantined` and `events`.
pub fn newest_first(time_field: &str) -> Document {
    doc! { time_field: -1, "_id": -1 }
}

// --- event queries ------------------------------------------------------------------------

/// The log filtered by `q`, strictly after the cursor `(micros, id)`. Pending entries (being
/// applied without a transaction) are not listed yet.
pub fn events_filter(q: &EventQuery, after: Option<(i64, &str)>) -> Document {
    let mut f = doc! { "applied": true };
    if let Some(v) = &q.registry {
        f.insert("registry", v);
    }
    if let Some(v) = &q.repository {
        f.insert("repository", v.as_str());
    }
    if let Some(v) = &q.tag {
        f.insert("tag", v.as_str());
    }
    if let Some(v) = &q.digest {
        f.insert("digest", v.as_str());
    }
    if let Some(v) = &q.action {
        f.insert("action", v.as_str());
    }
    if let Some(v) = &q.actor {
        f.insert("actor", v);
    }
    if let Some(v) = &q.client_ip {
        f.insert("client_ip", v);
    }
    let mut range = Document::new();
    if let Some(s) = q.since {
        range.insert("$gte", s.unix_micros());
    }
    if let Some(u) = q.until {
        range.insert("$lt", u.unix_micros());
    }
    if !range.is_empty() {
        f.insert("at", range);
    }
    if let Some((t, id)) = after {
        f.extend(before("at", "_id", t, id));
    }
    f
}

// --- repositories -------------------------------------------------------------------------

/// Characters of repository names (distribution's grammar): a search text with any other
/// character matches no name.
fn name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '/')
}

/// The smallest string greater than every string starting with `prefix` (all of whose
/// characters are [`name_char`]s, so the last one has an ASCII successor).
fn prefix_end(prefix: &str) -> String {
    let mut end: Vec<char> = prefix.chars().collect();
    if let Some(last) = end.last_mut() {
        *last = char::from(*last as u8 + 1);
    }
    end.into_iter().collect()
}

/// Escapes every character a regular expression treats specially.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The condition on `repository` for a name match; `None` when no name can match.
///
/// Names are lowercase by grammar, so the normalised form of a name is the name itself and a
/// case-insensitive match is a match of the lowercased text. A prefix is a range on the
/// indexed name (`[prefix, prefix_end)`), which walks the index; a substring is an unanchored
/// regular expression of the escaped text.
pub fn name_condition(m: &NameMatch) -> Option<Option<Document>> {
    let (text, prefix) = match m {
        NameMatch::Prefix(p) => (p.to_ascii_lowercase(), true),
        NameMatch::Substring(s) => (s.to_ascii_lowercase(), false),
    };
    if !text.chars().all(name_char) {
        return None;
    }
    if text.is_empty() {
        return Some(None);
    }
    Some(Some(if prefix {
        doc! { "$gte": &text, "$lt": prefix_end(&text) }
    } else {
        doc! { "$regex": regex_literal(&text) }
    }))
}

/// The repositories of a registry and/or matching a name, strictly after the cursor
/// `(registry, repository)`; `None` when nothing can match.
pub fn repositories_filter(
    registry: Option<&str>,
    name: Option<&NameMatch>,
    after: Option<(&str, &str)>,
) -> Option<Document> {
    let mut f = Document::new();
    if let Some(r) = registry {
        f.insert("registry", r);
    }
    if let Some(m) = name {
        if let Some(condition) = name_condition(m)? {
            f.insert("repository", condition);
        }
    }
    if let Some(after) = after {
        f.insert("$or", after_repository(after));
    }
    Some(f)
}

/// The documents strictly after `(registry, repository)`, in that order, as `$or` branches.
fn after_repository((registry, repository): (&str, &str)) -> Vec<Bson> {
    vec![
        Bson::Document(doc! { "registry": { "$gt": registry } }),
        Bson::Document(doc! { "registry": registry, "repository": { "$gt": repository } }),
    ]
}

/// Registry, then name: the order of `repositories`.
pub fn repository_order() -> Document {
    doc! { "registry": 1, "repository": 1 }
}

/// Documents of any of `repos` (grouped by registry, so each branch is one index range).
pub fn any_repository(repos: &[(String, String)]) -> Document {
    let mut by_registry: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (registry, repository) in repos {
        by_registry.entry(registry).or_default().push(repository);
    }
    let branches: Vec<Bson> = by_registry
        .into_iter()
        .map(|(registry, names)| {
            Bson::Document(doc! { "registry": registry, "repository": { "$in": names } })
        })
        .collect();
    one_of(branches)
}

/// A disjunction of conditions, without the `$or` when there is one; matches nothing when
/// there is none.
fn one_of(mut branches: Vec<Bson>) -> Document {
    match (branches.len(), branches.pop()) {
        (1, Some(Bson::Document(only))) => only,
        (0, _) => doc! { "_id": { "$in": [] } },
        (_, Some(last)) => {
            branches.push(last);
            doc! { "$or": branches }
        }
        (_, None) => doc! { "_id": { "$in": [] } },
    }
}

/// The links of `(registry, repository, digest)` triples that hold a delete register.
pub fn deleted_links(links: &[(String, String, String)]) -> Document {
    let mut f = links_in(links);
    f.insert("del", doc! { "$exists": true });
    f
}

/// The links of `links`, given as (registry, repository, digest).
pub fn links_in(links: &[(String, String, String)]) -> Document {
    let mut by_repo: std::collections::BTreeMap<(&str, &str), Vec<&str>> = Default::default();
    for (registry, repository, digest) in links {
        by_repo.entry((registry, repository)).or_default().push(digest);
    }
    let branches: Vec<Bson> = by_repo
        .into_iter()
        .map(|((registry, repository), digests)| {
            Bson::Document(
                doc! { "registry": registry, "repository": repository, "digest": { "$in": digests } },
            )
        })
        .collect();
    one_of(branches)
}

/// What liveness needs of a link.
pub fn link_register_projection() -> Document {
    doc! { "_id": 0, "registry": 1, "repository": 1, "digest": 1, "seen": 1, "del": 1 }
}

/// What the inventory needs of a link: when its digest was last pulled.
pub fn link_pull_projection() -> Document {
    doc! { "_id": 0, "registry": 1, "repository": 1, "digest": 1, "last_pulled": 1 }
}

/// What liveness needs of a repository.
pub fn repository_register_projection() -> Document {
    doc! { "_id": 0, "registry": 1, "repository": 1, "seen": 1, "del": 1 }
}

// --- tags ---------------------------------------------------------------------------------

/// Tags whose register holds a digest (deleted tags and tags only counted are never live).
fn with_head(mut f: Document) -> Document {
    f.insert("head.d", doc! { "$ne": Bson::Null });
    f
}

/// The tags of `repos` that may be live.
pub fn tag_heads_of(repos: &[(String, String)]) -> Document {
    with_head(any_repository(repos))
}

/// The tags of a repository that may be live, strictly after the cursor tag.
pub fn tags_filter(repo: &RepoRef, after: Option<&str>) -> Document {
    let mut f = repo_key(repo);
    if let Some(t) = after {
        f.insert("tag", doc! { "$gt": t });
    }
    with_head(f)
}

/// Tag name order.
pub fn tag_order() -> Document {
    doc! { "tag": 1 }
}

/// The tags of a repository pointing at `digest`.
pub fn tags_pointing_at(repos: &[(String, String)], digest: &Digest) -> Document {
    let mut f = any_repository(repos);
    f.insert("head.d", digest.as_str());
    f
}

/// Every tag that may be live and passes `filter`, strictly after the cursor
/// `(registry, repository, tag)`. `None` when no repository name can match.
pub fn inventory_filter(filter: &LiveTagFilter, after: Option<(&str, &str, &str)>) -> Option<Document> {
    let mut f = Document::new();
    if let Some(r) = &filter.registry {
        f.insert("registry", r);
    }
    if let Some(m) = &filter.repository {
        if let Some(condition) = name_condition(m)? {
            f.insert("repository", condition);
        }
    }
    if let Some(t) = &filter.tag {
        f.insert("tag", t.as_str());
    }
    if let Some((r, n, t)) = after {
        f.insert(
            "$or",
            vec![
                Bson::Document(doc! { "registry": { "$gt": r } }),
                Bson::Document(doc! { "registry": r, "repository": { "$gt": n } }),
                Bson::Document(doc! { "registry": r, "repository": n, "tag": { "$gt": t } }),
            ],
        );
    }
    Some(with_head(f))
}

/// Registry, repository, tag: the order of `inventory`.
pub fn inventory_order() -> Document {
    doc! { "registry": 1, "repository": 1, "tag": 1 }
}

/// The changes at or before `micros` of a repository's tags after `after_tag`, for
/// `tags_at` in [`tags_at_order`].
pub fn tags_at_filter(repo: &RepoRef, micros: i64, after_tag: Option<&str>) -> Document {
    let mut f = repo_key(repo);
    f.insert("t", doc! { "$lte": micros });
    if let Some(t) = after_tag {
        f.insert("tag", doc! { "$gt": t });
    }
    f
}

/// By tag, each tag's newest change first: the history's own index.
pub fn tags_at_order() -> Document {
    doc! { "tag": 1, "t": -1, "e": -1 }
}

/// A tag's history strictly after the cursor `(micros, event id)`, newest first.
pub fn tag_history_filter(repo: &RepoRef, tag: &Tag, after: Option<(i64, &str)>) -> Document {
    let mut f = tag_key(repo, tag);
    if let Some((t, e)) = after {
        f.extend(before("t", "e", t, e));
    }
    f
}

/// Newest change first.
pub fn tag_history_order() -> Document {
    doc! { "t": -1, "e": -1 }
}

// --- digests ------------------------------------------------------------------------------

/// The content documents of `digests`.
pub fn content_of(digests: &[&str]) -> Document {
    doc! { "_id": { "$in": digests } }
}

/// What tag listings need of content.
pub fn content_kind_projection() -> Document {
    doc! { "kind_key": 1 }
}

/// The links of a digest, after the cursor's `(registry, repository)`.
pub fn links_of_digest(digest: &Digest, after: Option<(&str, &str)>) -> Document {
    let mut f = doc! { "digest": digest.as_str() };
    if let Some(after) = after {
        f.insert("$or", after_repository(after));
    }
    f
}

/// The links of a repository.
pub fn links_of_repository(repo: &RepoRef) -> Document {
    repo_key(repo)
}

/// The manifests referencing a digest, from the cursor's manifest on (inclusive: it may
/// reference the digest under a later kind too).
pub fn referrers_of(digest: &Digest, from: Option<&str>) -> Document {
    let mut f = doc! { "ref_digests": digest.as_str() };
    if let Some(parent) = from {
        f.insert("_id", doc! { "$gte": parent });
    }
    f
}

/// By digest: the order of referrers.
pub fn referrer_order() -> Document {
    doc! { "_id": 1 }
}

/// What `referenced_by` needs of a referrer.
pub fn references_projection() -> Document {
    doc! { "refs": 1 }
}
