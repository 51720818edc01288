-- The tables of the event log and of the projection it builds.
--
-- Runs with `search_path` set to the store's schema only; `{pg_trgm}` is replaced by the
-- schema that holds the pg_trgm extension. Every text column that is sorted or compared is
-- `COLLATE "C"`: byte order is the order of Rust's `String`, which the reference store uses,
-- and it lets plain btree indexes answer `LIKE 'prefix%'`.

-- Enums sort in declaration order, which is the order of the core's `ContentKind` and
-- `ReferenceKind`; merges take the greatest kind with `GREATEST`/row comparisons.
CREATE TYPE content_kind AS ENUM ('unknown', 'blob', 'manifest', 'index');
CREATE TYPE reference_kind AS ENUM ('config', 'layer', 'child', 'subject');

-- Unix microseconds to timestamptz, exactly: the plan carries times as integers so that no
-- text parsing (and no time zone) is involved. Only time-of-day intervals are added, which
-- makes the result independent of the session time zone, hence IMMUTABLE.
CREATE FUNCTION ts(micros bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN timestamptz '1970-01-01 00:00:00+00'
    + (micros / 1000000) * interval '1 second'
    + (micros % 1000000) * interval '1 microsecond';

-- The append-only event log. Its primary key is the dedup gate of every apply.
--
-- Partitioning: the log is the only table that grows with traffic. It can be range-partitioned
-- by `at` (monthly) without touching the readers; because a partitioned table's unique keys
-- must include the partition key, the gate then moves to a narrow unpartitioned
-- `event_ids (id PRIMARY KEY)` table inserted first in `apply_plan`.
CREATE TABLE events (
    id              text COLLATE "C" PRIMARY KEY,
    at              timestamptz NOT NULL,
    action          text COLLATE "C" NOT NULL,
    registry        text COLLATE "C" NOT NULL,
    repository      text COLLATE "C" NOT NULL,
    tag             text COLLATE "C",
    digest          text COLLATE "C",
    media_type      text COLLATE "C",
    kind            content_kind NOT NULL,
    actor           text COLLATE "C",
    client_ip       text COLLATE "C",
    method          text COLLATE "C",
    user_agent      text COLLATE "C",
    source_instance text COLLATE "C",
    counted         boolean NOT NULL,
    -- Text, not jsonb: the event comes back byte for byte as received, and events built in
    -- code carry an empty string, which is no JSON document.
    raw             text COLLATE "C" NOT NULL
);
-- The log is read newest first, `(at, id)` descending, always; one index per filter that
-- narrows it a lot, each ending in `(at, id)` so a page is an index range scan.
CREATE INDEX events_at ON events (at, id);
CREATE INDEX events_repository ON events (repository, registry, at, id);
CREATE INDEX events_digest ON events (digest, at, id) WHERE digest IS NOT NULL;
CREATE INDEX events_actor ON events (actor, at, id) WHERE actor IS NOT NULL;
CREATE INDEX events_client_ip ON events (client_ip, at, id) WHERE client_ip IS NOT NULL;

-- Content, global by digest.
CREATE TABLE content (
    digest        text COLLATE "C" PRIMARY KEY,
    kind          content_kind NOT NULL,
    media_type    text COLLATE "C",
    size          bigint,
    artifact_type text COLLATE "C",
    first_seen    timestamptz NOT NULL
);

-- What manifests reference, one row per (child, kind). Two events may declare one reference
-- with different media types or sizes; those merge to the greatest.
CREATE TABLE content_references (
    parent     text COLLATE "C" NOT NULL REFERENCES content (digest),
    child      text COLLATE "C" NOT NULL,
    kind       reference_kind NOT NULL,
    media_type text COLLATE "C",
    size       bigint NOT NULL,
    PRIMARY KEY (parent, child, kind)
);
CREATE INDEX content_references_child ON content_references (child);

-- Repositories. A surrogate id keeps the per-repository tables narrow.
CREATE TABLE repositories (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    registry      text COLLATE "C" NOT NULL,
    name          text COLLATE "C" NOT NULL,
    -- The greatest stamp of a push, mount, pull or tag set: a repository delete only hides
    -- the repository while it is newer than this.
    seen_at       timestamptz,
    seen_event    text COLLATE "C",
    -- Last-writer-wins register of the repository delete.
    deleted_at    timestamptz,
    deleted_event text COLLATE "C",
    deleted_by    text COLLATE "C",
    push_count    bigint NOT NULL DEFAULT 0,
    pull_count    bigint NOT NULL DEFAULT 0,
    first_push    timestamptz,
    last_push     timestamptz,
    first_pull    timestamptz,
    last_pull     timestamptz,
    CONSTRAINT repositories_key UNIQUE (registry, name)
);
-- Prefix search: a "C" btree answers `LIKE 'p%'`; substring search: trigrams.
CREATE INDEX repositories_name ON repositories (name);
CREATE INDEX repositories_name_trgm ON repositories USING gin (name {pg_trgm}.gin_trgm_ops);

-- Distinct named actors of counted pushes (`push`) and pulls (`pull`).
CREATE TABLE repository_actors (
    repo_id bigint NOT NULL REFERENCES repositories (id),
    role    text COLLATE "C" NOT NULL CHECK (role IN ('push', 'pull')),
    actor   text COLLATE "C" NOT NULL,
    PRIMARY KEY (repo_id, role, actor)
);

-- A repository's hold on a digest.
CREATE TABLE links (
    repo_id       bigint NOT NULL REFERENCES repositories (id),
    digest        text COLLATE "C" NOT NULL,
    first_seen    timestamptz,
    -- Greatest stamp of a push, mount or pull of the digest here.
    seen_at       timestamptz,
    seen_event    text COLLATE "C",
    -- Last-writer-wins register of the content delete.
    deleted_at    timestamptz,
    deleted_event text COLLATE "C",
    deleted_by    text COLLATE "C",
    pull_count    bigint NOT NULL DEFAULT 0,
    last_pulled   timestamptz,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX links_digest ON links (digest);

-- Tags: the register (the greatest history entry, digest NULL when that is a delete) and
-- the counters, which outlive every set and delete.
CREATE TABLE tags (
    repo_id     bigint NOT NULL REFERENCES repositories (id),
    tag         text COLLATE "C" NOT NULL,
    set_at      timestamptz,
    set_event   text COLLATE "C",
    digest      text COLLATE "C",
    actor       text COLLATE "C",
    push_count  bigint NOT NULL DEFAULT 0,
    pull_count  bigint NOT NULL DEFAULT 0,
    last_pulled timestamptz,
    PRIMARY KEY (repo_id, tag)
);
CREATE INDEX tags_digest ON tags (digest) WHERE digest IS NOT NULL;

-- Every set (digest) and delete (NULL) of a tag.
CREATE TABLE tag_history (
    repo_id  bigint NOT NULL REFERENCES repositories (id),
    tag      text COLLATE "C" NOT NULL,
    at       timestamptz NOT NULL,
    event_id text COLLATE "C" NOT NULL,
    digest   text COLLATE "C",
    actor    text COLLATE "C",
    PRIMARY KEY (repo_id, tag, at, event_id)
);

-- Events that cannot be modelled, verbatim.
CREATE TABLE quarantine (
    key         text COLLATE "C" PRIMARY KEY,
    registry    text COLLATE "C",
    received_at timestamptz NOT NULL,
    reason      text COLLATE "C" NOT NULL,
    raw         text COLLATE "C" NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_at, key);

-- A tag is live when its newest entry is a set that no delete of its digest's link and no
-- repository delete outranks. Row comparisons with NULL give NULL: no delete, no hiding.
CREATE VIEW live_tags AS
SELECT t.*
FROM tags t
JOIN repositories r ON r.id = t.repo_id
LEFT JOIN links l ON l.repo_id = t.repo_id AND l.digest = t.digest
WHERE t.digest IS NOT NULL
  AND NOT coalesce((l.deleted_at, l.deleted_event) > (t.set_at, t.set_event), false)
  AND NOT coalesce((r.deleted_at, r.deleted_event) > (t.set_at, t.set_event), false);

-- A link is live when it was observed and no delete of it or of its repository is newer.
CREATE VIEW live_links AS
SELECT l.*
FROM links l
JOIN repositories r ON r.id = l.repo_id
WHERE l.seen_at IS NOT NULL
  AND NOT coalesce((l.deleted_at, l.deleted_event) > (l.seen_at, l.seen_event), false)
  AND NOT coalesce((r.deleted_at, r.deleted_event) > (l.seen_at, l.seen_event), false);
