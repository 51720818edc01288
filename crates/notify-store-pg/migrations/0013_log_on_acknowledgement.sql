-- The log written when an event is acknowledged; the queue holds only what is left to project.
--
-- With deferred projection the writers queued each event's whole plan (the log's columns,
-- the raw body, the commands) as JSON text, and the projector wrote it to the log: every
-- body was written twice (into the queue, then into the log), deleted once, and parsed as
-- JSON on the way. On 100,000 events (docs/benchmarks.md) queueing cost about 20 µs of
-- database time per event and taking a batch from the queue 26 µs, most of it the body.
--
-- Now the writers insert the log row themselves, from typed arrays (no JSON to parse), and
-- queue only the commands. The log's primary key becomes the dedup gate at once: a
-- delivery racing another one of the same id waits for it and finds the conflict, so the
-- checks `enqueue` made against the log and the queue (migration 8) are gone, and so is the
-- queue's unique index. The projector takes commands, projects them, and no longer touches
-- the log.
--
-- A read projects what is queued before it begins, as before. An event acknowledged while a
-- read runs may now be in the log that read sees before it is in the projections; before,
-- it was in neither.
--
-- Commands the database refuses to project are moved to the quarantine with the event's
-- log row (see `Sql::pending_quarantine`), so that a refused event is quarantined and not
-- logged, in both projection modes, as before.
--
-- The projection itself is unchanged and now lives in `project_commands`, which both
-- `apply_batch` (inline) and `project` (deferred) call.

-- `plan_commands(commands) -> plan_command[]`: the commands of a batch, one JSON array per
-- event, in order, as rows; refuses an unknown command.
CREATE FUNCTION plan_commands(commands jsonb[]) RETURNS plan_command[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    cmds plan_command[];
BEGIN
    cmds := ARRAY(
        SELECT ROW(e.pi, k.ci, c->>'op', c->>'registry', c->>'repository', c->>'digest', c->>'tag',
                   ts(coalesce(c->>'at', c->>'seen')::bigint), c->>'event', c->>'actor',
                   (c->>'kind')::content_kind, c->>'media_type', (c->>'size')::bigint,
                   c->>'artifact_type', c->'refs', NULL)::plan_command
        FROM unnest(commands) WITH ORDINALITY AS e(cs, pi)
        CROSS JOIN LATERAL jsonb_array_elements(e.cs) WITH ORDINALITY AS k(c, ci));
    IF EXISTS (SELECT 1 FROM unnest(cmds) AS c
               WHERE c.op NOT IN ('content', 'link', 'set_tag', 'delete_tag', 'delete_content',
                                  'delete_repository', 'count_push', 'count_pull')) THEN
        RAISE EXCEPTION 'plan_commands: unknown command';
    END IF;
    RETURN cmds;
END
$fn$;

-- `project_commands(cmds)`: writes a batch's commands to the projections (migration 12's
-- `apply_batch` after its log insert, unchanged).
CREATE FUNCTION project_commands(cmds plan_command[]) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
BEGIN
    -- Content, global by digest: the greatest (kind, media type), sizes and artifact types,
    -- the earliest sighting. Rows that already cover the batch are left alone, unlocked:
    -- most events repeat what is known (every pull of a base layer), and an upsert would
    -- lock the row even when it changes nothing, serialising all writers of a popular digest.
    INSERT INTO content AS x (digest, kind, media_type, size, artifact_type, first_seen)
    SELECT n.digest, n.kind, n.media_type, n.size, n.artifact_type, n.first_seen
    FROM (SELECT DISTINCT ON (c.digest) c.digest, c.kind, c.media_type,
                 max(c.size) OVER w AS size, max(c.artifact_type) OVER w AS artifact_type,
                 min(c.at) OVER w AS first_seen
          FROM unnest(cmds) AS c
          WHERE c.op = 'content'
          WINDOW w AS (PARTITION BY c.digest)
          ORDER BY c.digest, c.kind DESC, c.media_type DESC NULLS LAST) AS n
    WHERE NOT EXISTS (
        SELECT 1 FROM content x
        WHERE x.digest = n.digest
          AND NOT (n.kind > x.kind
                   OR (n.kind = x.kind AND n.media_type IS NOT NULL
                       AND (x.media_type IS NULL OR n.media_type > x.media_type))
                   OR (n.size IS NOT NULL AND (x.size IS NULL OR n.size > x.size))
                   OR (n.artifact_type IS NOT NULL
                       AND (x.artifact_type IS NULL OR n.artifact_type > x.artifact_type))
                   OR n.first_seen < x.first_seen))
    ORDER BY n.digest
    ON CONFLICT (digest) DO UPDATE SET
        kind = CASE WHEN EXCLUDED.kind > x.kind
                      OR (EXCLUDED.kind = x.kind AND EXCLUDED.media_type IS NOT NULL
                          AND (x.media_type IS NULL OR EXCLUDED.media_type > x.media_type))
                    THEN EXCLUDED.kind ELSE x.kind END,
        media_type = CASE WHEN EXCLUDED.kind > x.kind
                      OR (EXCLUDED.kind = x.kind AND EXCLUDED.media_type IS NOT NULL
                          AND (x.media_type IS NULL OR EXCLUDED.media_type > x.media_type))
                    THEN EXCLUDED.media_type ELSE x.media_type END,
        size = greatest(x.size, EXCLUDED.size),
        artifact_type = greatest(x.artifact_type, EXCLUDED.artifact_type),
        first_seen = least(x.first_seen, EXCLUDED.first_seen);

    -- References, merged to the greatest media type and size; likewise only those that add.
    INSERT INTO content_references AS x (parent, child, kind, media_type, size)
    SELECT r.parent, r.child, r.kind, r.media_type, r.size
    FROM (SELECT c.digest AS parent, f.digest COLLATE "C" AS child, f.kind::reference_kind AS kind,
                 max(f.media_type COLLATE "C") AS media_type, max(f.size) AS size
          FROM unnest(cmds) AS c
          CROSS JOIN LATERAL jsonb_to_recordset(c.refs) AS f(digest text, kind text, media_type text, size bigint)
          WHERE c.op = 'content'
          GROUP BY 1, 2, 3) AS r
    WHERE NOT EXISTS (
        SELECT 1 FROM content_references k
        WHERE k.parent = r.parent AND k.child = r.child AND k.kind = r.kind
          AND (r.media_type IS NULL OR (k.media_type IS NOT NULL AND k.media_type >= r.media_type))
          AND k.size >= r.size)
    ORDER BY r.parent, r.child, r.kind
    ON CONFLICT (parent, child, kind) DO UPDATE SET
        media_type = greatest(x.media_type, EXCLUDED.media_type),
        size = greatest(x.size, EXCLUDED.size);

    -- Every other command is about a repository. One upsert creates the missing ones and
    -- locks and updates the others, in (registry, name) order, before anything that hangs off
    -- them is touched: the newest sighting (push, mount, pull, tag set), the newest delete,
    -- the counters and their first and last times. An update that changes no key column
    -- locks FOR NO KEY UPDATE, which leaves the foreign-key checks of other tables free.
    INSERT INTO repositories AS r (registry, name, seen_at, seen_event, deleted_at, deleted_event, deleted_by,
                                   push_count, first_push, last_push, pull_count, first_pull, last_pull)
    SELECT a.registry, a.repository, a.seen_at, a.seen_event, a.deleted_at, a.deleted_event, a.deleted_by,
           a.pushes, a.first_push, a.last_push, a.pulls, a.first_pull, a.last_pull
    FROM (SELECT c.registry, c.repository,
                 (array_agg(c.at ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op IN ('link', 'set_tag')))[1] AS seen_at,
                 (array_agg(c.event ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op IN ('link', 'set_tag')))[1] AS seen_event,
                 (array_agg(c.at ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'delete_repository'))[1] AS deleted_at,
                 (array_agg(c.event ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'delete_repository'))[1] AS deleted_event,
                 (array_agg(c.actor ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'delete_repository'))[1] AS deleted_by,
                 count(*) FILTER (WHERE c.op = 'count_push') AS pushes,
                 min(c.at) FILTER (WHERE c.op = 'count_push') AS first_push,
                 max(c.at) FILTER (WHERE c.op = 'count_push') AS last_push,
                 count(*) FILTER (WHERE c.op = 'count_pull') AS pulls,
                 min(c.at) FILTER (WHERE c.op = 'count_pull') AS first_pull,
                 max(c.at) FILTER (WHERE c.op = 'count_pull') AS last_pull
          FROM unnest(cmds) AS c
          WHERE c.op <> 'content'
          GROUP BY c.registry, c.repository) AS a
    ORDER BY a.registry, a.repository
    ON CONFLICT (registry, name) DO UPDATE SET
        seen_at = CASE WHEN EXCLUDED.seen_at IS NOT NULL AND (r.seen_at IS NULL
                            OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (r.seen_at, r.seen_event))
                       THEN EXCLUDED.seen_at ELSE r.seen_at END,
        seen_event = CASE WHEN EXCLUDED.seen_at IS NOT NULL AND (r.seen_at IS NULL
                            OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (r.seen_at, r.seen_event))
                       THEN EXCLUDED.seen_event ELSE r.seen_event END,
        deleted_at = CASE WHEN EXCLUDED.deleted_at IS NOT NULL AND (r.deleted_at IS NULL
                            OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (r.deleted_at, r.deleted_event))
                       THEN EXCLUDED.deleted_at ELSE r.deleted_at END,
        deleted_event = CASE WHEN EXCLUDED.deleted_at IS NOT NULL AND (r.deleted_at IS NULL
                            OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (r.deleted_at, r.deleted_event))
                       THEN EXCLUDED.deleted_event ELSE r.deleted_event END,
        deleted_by = CASE WHEN EXCLUDED.deleted_at IS NOT NULL AND (r.deleted_at IS NULL
                            OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (r.deleted_at, r.deleted_event))
                       THEN EXCLUDED.deleted_by ELSE r.deleted_by END,
        push_count = r.push_count + EXCLUDED.push_count,
        first_push = least(r.first_push, EXCLUDED.first_push),
        last_push = greatest(r.last_push, EXCLUDED.last_push),
        pull_count = r.pull_count + EXCLUDED.pull_count,
        first_pull = least(r.first_pull, EXCLUDED.first_pull),
        last_pull = greatest(r.last_pull, EXCLUDED.last_pull);
    cmds := ARRAY(
        SELECT ROW(c.pi, c.ci, c.op, c.registry, c.repository, c.digest, c.tag, c.at, c.event, c.actor,
                   c.kind, c.media_type, c.size, c.artifact_type, c.refs, r.id)::plan_command
        FROM unnest(cmds) AS c
        JOIN repositories r ON r.registry = c.registry AND r.name = c.repository
        WHERE c.op <> 'content');

    -- Distinct named actors of counted pushes and pulls.
    INSERT INTO repository_actors (repo_id, role, actor)
    SELECT DISTINCT c.rid, CASE c.op WHEN 'count_push' THEN 'push' ELSE 'pull' END, c.actor
    FROM unnest(cmds) AS c
    WHERE c.op IN ('count_push', 'count_pull') AND c.actor IS NOT NULL
    ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING;

    -- Links: sightings (first and newest), the delete register, pulls of the digest.
    -- A new row's repository names and liveness are written here, from the repository row
    -- this batch holds; `links_proposed` fills them in for the one-event writer only.
    INSERT INTO links AS l (repo_id, registry, name, live, digest, first_seen, seen_at, seen_event,
                            deleted_at, deleted_event, deleted_by, pull_count, last_pulled)
    SELECT g.rid, r.registry, r.name,
           g.seen_at IS NOT NULL
               AND NOT coalesce((g.deleted_at, g.deleted_event) > (g.seen_at, g.seen_event), false)
               AND NOT coalesce((r.deleted_at, r.deleted_event) > (g.seen_at, g.seen_event), false),
           g.digest, g.first_seen, g.seen_at, g.seen_event, g.deleted_at, g.deleted_event, g.deleted_by,
           g.pull_count, g.last_pulled
    FROM (SELECT c.rid, c.digest,
                 min(c.at) FILTER (WHERE c.op = 'link') AS first_seen,
                 (array_agg(c.at ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'link'))[1] AS seen_at,
                 (array_agg(c.event ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'link'))[1] AS seen_event,
                 (array_agg(c.at ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'delete_content'))[1] AS deleted_at,
                 (array_agg(c.event ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'delete_content'))[1] AS deleted_event,
                 (array_agg(c.actor ORDER BY c.at DESC, c.event DESC) FILTER (WHERE c.op = 'delete_content'))[1] AS deleted_by,
                 count(*) FILTER (WHERE c.op = 'count_pull') AS pull_count,
                 max(c.at) FILTER (WHERE c.op = 'count_pull') AS last_pulled
          FROM unnest(cmds) AS c
          WHERE c.op IN ('link', 'delete_content', 'count_pull') AND c.digest IS NOT NULL
          GROUP BY c.rid, c.digest) AS g
    JOIN repositories r ON r.id = g.rid
    ORDER BY g.rid, g.digest
    ON CONFLICT (repo_id, digest) DO UPDATE SET
        first_seen = least(l.first_seen, EXCLUDED.first_seen),
        seen_at = CASE WHEN EXCLUDED.seen_at IS NOT NULL AND (l.seen_at IS NULL
                            OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (l.seen_at, l.seen_event))
                       THEN EXCLUDED.seen_at ELSE l.seen_at END,
        seen_event = CASE WHEN EXCLUDED.seen_at IS NOT NULL AND (l.seen_at IS NULL
                            OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (l.seen_at, l.seen_event))
                       THEN EXCLUDED.seen_event ELSE l.seen_event END,
        deleted_at = CASE WHEN EXCLUDED.deleted_at IS NOT NULL AND (l.deleted_at IS NULL
                            OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (l.deleted_at, l.deleted_event))
                       THEN EXCLUDED.deleted_at ELSE l.deleted_at END,
        deleted_event = CASE WHEN EXCLUDED.deleted_at IS NOT NULL AND (l.deleted_at IS NULL
                            OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (l.deleted_at, l.deleted_event))
                       THEN EXCLUDED.deleted_event ELSE l.deleted_event END,
        deleted_by = CASE WHEN EXCLUDED.deleted_at IS NOT NULL AND (l.deleted_at IS NULL
                            OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (l.deleted_at, l.deleted_event))
                       THEN EXCLUDED.deleted_by ELSE l.deleted_by END,
        pull_count = l.pull_count + EXCLUDED.pull_count,
        last_pulled = greatest(l.last_pulled, EXCLUDED.last_pulled);

    -- Tags: the register (the newest set or delete; of one stamp, the plan's later command)
    -- and the counters.
    INSERT INTO tags AS t (repo_id, tag, set_at, set_event, digest, actor, push_count, pull_count, last_pulled)
    SELECT c.rid, c.tag,
           (array_agg(c.at ORDER BY c.at DESC, c.event DESC, c.pi DESC, c.ci DESC) FILTER (WHERE c.op IN ('set_tag', 'delete_tag')))[1],
           (array_agg(c.event ORDER BY c.at DESC, c.event DESC, c.pi DESC, c.ci DESC) FILTER (WHERE c.op IN ('set_tag', 'delete_tag')))[1],
           (array_agg(c.digest ORDER BY c.at DESC, c.event DESC, c.pi DESC, c.ci DESC) FILTER (WHERE c.op IN ('set_tag', 'delete_tag')))[1],
           (array_agg(c.actor ORDER BY c.at DESC, c.event DESC, c.pi DESC, c.ci DESC) FILTER (WHERE c.op IN ('set_tag', 'delete_tag')))[1],
           count(*) FILTER (WHERE c.op = 'count_push'),
           count(*) FILTER (WHERE c.op = 'count_pull'),
           max(c.at) FILTER (WHERE c.op = 'count_pull')
    FROM unnest(cmds) AS c
    WHERE c.op IN ('set_tag', 'delete_tag', 'count_push', 'count_pull') AND c.tag IS NOT NULL
    GROUP BY c.rid, c.tag
    ORDER BY c.rid, c.tag
    ON CONFLICT (repo_id, tag) DO UPDATE SET
        set_at = CASE WHEN EXCLUDED.set_at IS NOT NULL AND (t.set_at IS NULL
                            OR (EXCLUDED.set_at, EXCLUDED.set_event) >= (t.set_at, t.set_event))
                      THEN EXCLUDED.set_at ELSE t.set_at END,
        set_event = CASE WHEN EXCLUDED.set_at IS NOT NULL AND (t.set_at IS NULL
                            OR (EXCLUDED.set_at, EXCLUDED.set_event) >= (t.set_at, t.set_event))
                      THEN EXCLUDED.set_event ELSE t.set_event END,
        digest = CASE WHEN EXCLUDED.set_at IS NOT NULL AND (t.set_at IS NULL
                            OR (EXCLUDED.set_at, EXCLUDED.set_event) >= (t.set_at, t.set_event))
                      THEN EXCLUDED.digest ELSE t.digest END,
        actor = CASE WHEN EXCLUDED.set_at IS NOT NULL AND (t.set_at IS NULL
                            OR (EXCLUDED.set_at, EXCLUDED.set_event) >= (t.set_at, t.set_event))
                      THEN EXCLUDED.actor ELSE t.actor END,
        push_count = t.push_count + EXCLUDED.push_count,
        pull_count = t.pull_count + EXCLUDED.pull_count,
        last_pulled = greatest(t.last_pulled, EXCLUDED.last_pulled);

    -- Tag history: every set and delete; of one stamp, the plan's later command.
    INSERT INTO tag_history AS h (repo_id, tag, at, event_id, digest, actor)
    SELECT DISTINCT ON (c.rid, c.tag, c.at, c.event) c.rid, c.tag, c.at, c.event, c.digest, c.actor
    FROM unnest(cmds) AS c
    WHERE c.op IN ('set_tag', 'delete_tag')
    ORDER BY c.rid, c.tag, c.at, c.event, c.pi DESC, c.ci DESC
    ON CONFLICT (repo_id, tag, at, event_id) DO UPDATE SET digest = EXCLUDED.digest, actor = EXCLUDED.actor;
END
$fn$;

-- Inline: the log, then the projection of the events that were new.
CREATE OR REPLACE FUNCTION apply_batch(plans jsonb[]) RETURNS text[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
DECLARE
    fresh text[];
BEGIN
    -- The dedup gate. An id being inserted by a concurrent transaction makes this one wait
    -- for it, then skip the id.
    WITH inserted AS (
        INSERT INTO events (id, at, action, registry, repository, tag, digest, media_type, kind, actor,
                            client_ip, method, user_agent, source_instance, counted, raw)
        SELECT p->>'id', ts((p->>'at')::bigint), p->>'action', p->>'registry', p->>'repository',
               p->>'tag', p->>'digest', p->>'media_type', (p->>'kind')::content_kind, p->>'actor',
               p->>'client_ip', p->>'method', p->>'user_agent', p->>'source_instance',
               (p->>'counted')::boolean, p->>'raw'
        FROM unnest(plans) AS e(p)
        ORDER BY p->>'id' COLLATE "C"
        ON CONFLICT (id) DO NOTHING
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO fresh FROM inserted;
    IF cardinality(fresh) = 0 THEN
        RETURN fresh;
    END IF;
    PERFORM project_commands(plan_commands(ARRAY(
        SELECT e.p->'commands' FROM unnest(plans) WITH ORDINALITY AS e(p, pi)
        WHERE e.p->>'id' = ANY (fresh)
        ORDER BY e.pi)));
    RETURN fresh;
END
$fn$;

-- The queue of commands. The plans queued before this migration are moved into it: their
-- log rows are written now, and their commands queued in their order.
ALTER TABLE pending RENAME TO pending_plans;

CREATE TABLE pending (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The event, for the quarantine; the log's primary key keeps it unique.
    id       text COLLATE "C" NOT NULL,
    -- The event's commands, as the JSON array `plan_commands` reads: parsed once, when
    -- projected.
    commands text NOT NULL
)
WITH (toast_tuple_target = 8160);
ALTER TABLE pending ALTER COLUMN commands SET STORAGE EXTERNAL;

WITH old AS (
    DELETE FROM pending_plans RETURNING seq, plan::jsonb AS p),
logged AS (
    INSERT INTO events (id, at, action, registry, repository, tag, digest, media_type, kind, actor,
                        client_ip, method, user_agent, source_instance, counted, raw)
    SELECT p->>'id', ts((p->>'at')::bigint), p->>'action', p->>'registry', p->>'repository',
           p->>'tag', p->>'digest', p->>'media_type', (p->>'kind')::content_kind, p->>'actor',
           p->>'client_ip', p->>'method', p->>'user_agent', p->>'source_instance',
           (p->>'counted')::boolean, p->>'raw'
    FROM old
    ORDER BY p->>'id' COLLATE "C"
    ON CONFLICT (id) DO NOTHING
    RETURNING id)
INSERT INTO pending (id, commands)
SELECT o.p->>'id', (o.p->'commands')::text
FROM old o
WHERE o.p->>'id' IN (SELECT id FROM logged)
ORDER BY o.seq;

DROP FUNCTION enqueue(text[], text[]);
DROP FUNCTION enqueue_one(text, text);
DROP TABLE pending_plans;

-- `enqueue(columns…, commands) -> text[]`: logs the events whose ids the log does not hold
-- and queues their commands; returns those ids. One array per log column, element i of
-- each being event i's; kinds in the spelling of `content_kind`, times in Unix
-- microseconds.
CREATE FUNCTION enqueue(ids text[], ats bigint[], actions text[], registries text[], repositories text[],
                        tags text[], digests text[], media_types text[], kinds text[], actors text[],
                        client_ips text[], methods text[], user_agents text[], source_instances text[],
                        counted boolean[], raws text[], commands text[]) RETURNS text[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    fresh text[];
BEGIN
    -- In id order, so that two batches holding the same ids take them in one order.
    WITH inserted AS (
        INSERT INTO events (id, at, action, registry, repository, tag, digest, media_type, kind, actor,
                            client_ip, method, user_agent, source_instance, counted, raw)
        SELECT g.id, ts(g.at), g.action, g.registry, g.repository, g.tag, g.digest, g.media_type,
               g.kind::content_kind, g.actor, g.client_ip, g.method, g.user_agent, g.source_instance,
               g.counted, g.raw
        FROM unnest(ids, ats, actions, registries, repositories, tags, digests, media_types, kinds,
                    actors, client_ips, methods, user_agents, source_instances, counted, raws)
             AS g(id, at, action, registry, repository, tag, digest, media_type, kind, actor,
                  client_ip, method, user_agent, source_instance, counted, raw)
        ORDER BY g.id COLLATE "C"
        ON CONFLICT (id) DO NOTHING
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO fresh FROM inserted;
    IF cardinality(fresh) > 0 THEN
        INSERT INTO pending (id, commands)
        SELECT g.id, g.commands
        FROM unnest(ids, commands) WITH ORDINALITY AS g(id, commands, n)
        WHERE g.id = ANY (fresh)
        ORDER BY g.n;
    END IF;
    RETURN fresh;
END
$fn$;

-- `enqueue_one(columns…, commands) -> boolean`: the same for one event (every batch of one
-- sender at a time); true when it was new.
CREATE FUNCTION enqueue_one(p_id text, p_at bigint, p_action text, p_registry text, p_repository text,
                            p_tag text, p_digest text, p_media_type text, p_kind text, p_actor text,
                            p_client_ip text, p_method text, p_user_agent text, p_source_instance text,
                            p_counted boolean, p_raw text, p_commands text) RETURNS boolean
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    INSERT INTO events (id, at, action, registry, repository, tag, digest, media_type, kind, actor,
                        client_ip, method, user_agent, source_instance, counted, raw)
    VALUES (p_id, ts(p_at), p_action, p_registry, p_repository, p_tag, p_digest, p_media_type,
            p_kind::content_kind, p_actor, p_client_ip, p_method, p_user_agent, p_source_instance,
            p_counted, p_raw)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO pending (id, commands) VALUES (p_id, p_commands);
    RETURN true;
END
$fn$;

-- `project(n, upto) -> integer`: as before (migration 9), on commands.
CREATE OR REPLACE FUNCTION project(n integer, upto bigint) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
DECLARE
    batch jsonb[];
    taken integer;
BEGIN
    -- The caller's implicit transaction: the queue still holds what a lost commit took.
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH taken AS (
        DELETE FROM pending
        WHERE seq IN (SELECT seq FROM pending WHERE seq <= upto ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED)
        RETURNING seq, commands)
    SELECT count(*), array_agg(t.commands::jsonb ORDER BY t.seq) INTO taken, batch FROM taken t;
    IF taken > 0 THEN
        PERFORM project_commands(plan_commands(batch));
    END IF;
    RETURN taken;
END
$fn$;

-- `project_one(seq) -> boolean`: the same for one queued event, to find the one a batch
-- fails on. False when it is no longer queued.
CREATE OR REPLACE FUNCTION project_one(s bigint) RETURNS boolean
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    c text;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM pending WHERE seq = s RETURNING commands INTO c;
    IF c IS NULL THEN
        RETURN false;
    END IF;
    PERFORM project_commands(plan_commands(ARRAY[c::jsonb]));
    RETURN true;
END
$fn$;
