-- The tables of the event log and of the projection it builds, with their keys.
--
-- Times are Unix microseconds (INTEGER), exactly the core's `Timestamp`. Text compares with
-- SQLite's default BINARY collation, byte by byte, which is the order of Rust's `String` that
-- the reference store sorts by. A `Stamp` is an `(x_at, x_event)` column pair compared as a
-- row value. Content and reference kinds are stored as their rank in the core's enum order
-- (content: 0 unknown, 1 blob, 2 manifest, 3 index; reference: 0 config, 1 layer, 2 child,
-- 3 subject), so that merges take the greater one and listings sort by it.
--
-- Tables are STRICT: a value of the wrong type is refused, not converted.

-- The append-only event log. Its primary key is the dedup gate of every apply.
CREATE TABLE events (
    id              TEXT NOT NULL PRIMARY KEY,
    at              INTEGER NOT NULL,
    action          TEXT NOT NULL,
    registry        TEXT NOT NULL,
    repository      TEXT NOT NULL,
    tag             TEXT,
    digest          TEXT,
    media_type      TEXT,
    kind            TEXT NOT NULL,
    actor           TEXT,
    client_ip       TEXT,
    method          TEXT,
    user_agent      TEXT,
    source_instance TEXT,
    counted         INTEGER NOT NULL,
    -- The event's JSON text exactly as received.
    raw             TEXT NOT NULL
) STRICT;

-- Content, global by digest.
CREATE TABLE content (
    digest        TEXT NOT NULL PRIMARY KEY,
    kind          INTEGER NOT NULL,
    media_type    TEXT,
    size          INTEGER,
    artifact_type TEXT,
    first_seen    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- What manifests reference, one row per (parent, child, kind). Two events may declare the
-- same reference with different media types or sizes: each merges to the greatest.
CREATE TABLE content_references (
    parent     TEXT NOT NULL,
    child      TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    media_type TEXT,
    size       INTEGER NOT NULL,
    PRIMARY KEY (parent, child, kind)
) STRICT, WITHOUT ROWID;

-- Repositories. The rowid keeps the per-repository tables narrow.
CREATE TABLE repositories (
    id            INTEGER PRIMARY KEY,
    registry      TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- The greatest stamp of a push, mount, pull or tag set: a repository delete hides the
    -- repository only while it is newer than this.
    seen_at       INTEGER,
    seen_event    TEXT,
    -- Last-writer-wins register of the repository delete.
    deleted_at    INTEGER,
    deleted_event TEXT,
    deleted_by    TEXT,
    push_count    INTEGER NOT NULL DEFAULT 0,
    pull_count    INTEGER NOT NULL DEFAULT 0,
    first_push    INTEGER,
    last_push     INTEGER,
    first_pull    INTEGER,
    last_pull     INTEGER,
    UNIQUE (registry, name)
) STRICT;

-- Distinct named actors of counted pushes ('push') and pulls ('pull').
CREATE TABLE repository_actors (
    repo_id INTEGER NOT NULL,
    role    TEXT NOT NULL CHECK (role IN ('push', 'pull')),
    actor   TEXT NOT NULL,
    PRIMARY KEY (repo_id, role, actor)
) STRICT, WITHOUT ROWID;

-- A repository's hold on a digest.
CREATE TABLE links (
    repo_id       INTEGER NOT NULL,
    digest        TEXT NOT NULL,
    first_seen    INTEGER,
    -- Greatest stamp of a push, mount or pull of the digest here.
    seen_at       INTEGER,
    seen_event    TEXT,
    -- Last-writer-wins register of the content delete.
    deleted_at    INTEGER,
    deleted_event TEXT,
    deleted_by    TEXT,
    pull_count    INTEGER NOT NULL DEFAULT 0,
    last_pulled   INTEGER,
    PRIMARY KEY (repo_id, digest)
) STRICT, WITHOUT ROWID;

-- Tags: the register (the greatest history entry; digest NULL when that is a delete) and the
-- counters, which outlive every set and delete.
CREATE TABLE tags (
    repo_id     INTEGER NOT NULL,
    tag         TEXT NOT NULL,
    set_at      INTEGER,
    set_event   TEXT,
    digest      TEXT,
    actor       TEXT,
    push_count  INTEGER NOT NULL DEFAULT 0,
    pull_count  INTEGER NOT NULL DEFAULT 0,
    last_pulled INTEGER,
    PRIMARY KEY (repo_id, tag)
) STRICT, WITHOUT ROWID;

-- Every set (digest) and delete (NULL) of a tag.
CREATE TABLE tag_history (
    repo_id  INTEGER NOT NULL,
    tag      TEXT NOT NULL,
    at       INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    digest   TEXT,
    actor    TEXT,
    PRIMARY KEY (repo_id, tag, at, event_id)
) STRICT, WITHOUT ROWID;

-- Events that cannot be modelled, verbatim.
CREATE TABLE quarantine (
    key         TEXT NOT NULL PRIMARY KEY,
    registry    TEXT,
    received_at INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    raw         TEXT NOT NULL
) STRICT;
