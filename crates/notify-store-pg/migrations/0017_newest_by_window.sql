-- The newest of each kind of command per row, found in one sort per statement.
--
-- `project_commands` (migration 13) took a repository's, a link's and a tag's newest sighting,
-- delete or tag move with ordered aggregates, `(array_agg(x ORDER BY at DESC, event DESC)
-- FILTER (...))[1]`, one per column: each sorts its group's rows apart, so a batch ran five
-- small sorts for each repository it touched, five for each link and four for each tag.
-- Now a window numbers the rows of each (row, kind of command) newest first, one sort of the
-- statement's rows, and plain `max(...) FILTER (WHERE top ...)` takes the values of the one
-- row numbered 1. Rows that tie on the order are the same event's, whose values are the
-- same, as before; tags still break ties by the plan's later command.
--
-- `project_commands(cmds)`: writes a batch's commands to the projections; everything but
-- those three aggregates is migration 13's.
CREATE OR REPLACE FUNCTION project_commands(cmds plan_command[]) RETURNS void
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
                 max(c.at) FILTER (WHERE c.top AND c.op IN ('link', 'set_tag')) AS seen_at,
                 max(c.event) FILTER (WHERE c.top AND c.op IN ('link', 'set_tag')) AS seen_event,
                 max(c.at) FILTER (WHERE c.top AND c.op = 'delete_repository') AS deleted_at,
                 max(c.event) FILTER (WHERE c.top AND c.op = 'delete_repository') AS deleted_event,
                 max(c.actor) FILTER (WHERE c.top AND c.op = 'delete_repository') AS deleted_by,
                 count(*) FILTER (WHERE c.op = 'count_push') AS pushes,
                 min(c.at) FILTER (WHERE c.op = 'count_push') AS first_push,
                 max(c.at) FILTER (WHERE c.op = 'count_push') AS last_push,
                 count(*) FILTER (WHERE c.op = 'count_pull') AS pulls,
                 min(c.at) FILTER (WHERE c.op = 'count_pull') AS first_pull,
                 max(c.at) FILTER (WHERE c.op = 'count_pull') AS last_pull
          FROM (SELECT c.*,
                       row_number() OVER (PARTITION BY c.registry, c.repository,
                                                       CASE WHEN c.op IN ('link', 'set_tag') THEN 1
                                                            WHEN c.op = 'delete_repository' THEN 2 END
                                          ORDER BY c.at DESC, c.event DESC) = 1 AS top
                FROM unnest(cmds) AS c
                WHERE c.op <> 'content') AS c
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
                 max(c.at) FILTER (WHERE c.top AND c.op = 'link') AS seen_at,
                 max(c.event) FILTER (WHERE c.top AND c.op = 'link') AS seen_event,
                 max(c.at) FILTER (WHERE c.top AND c.op = 'delete_content') AS deleted_at,
                 max(c.event) FILTER (WHERE c.top AND c.op = 'delete_content') AS deleted_event,
                 max(c.actor) FILTER (WHERE c.top AND c.op = 'delete_content') AS deleted_by,
                 count(*) FILTER (WHERE c.op = 'count_pull') AS pull_count,
                 max(c.at) FILTER (WHERE c.op = 'count_pull') AS last_pulled
          FROM (SELECT c.*,
                       row_number() OVER (PARTITION BY c.rid, c.digest, c.op
                                          ORDER BY c.at DESC, c.event DESC) = 1 AS top
                FROM unnest(cmds) AS c
                WHERE c.op IN ('link', 'delete_content', 'count_pull') AND c.digest IS NOT NULL) AS c
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
           max(c.at) FILTER (WHERE c.top AND c.op IN ('set_tag', 'delete_tag')),
           max(c.event) FILTER (WHERE c.top AND c.op IN ('set_tag', 'delete_tag')),
           max(c.digest) FILTER (WHERE c.top AND c.op IN ('set_tag', 'delete_tag')),
           max(c.actor) FILTER (WHERE c.top AND c.op IN ('set_tag', 'delete_tag')),
           count(*) FILTER (WHERE c.op = 'count_push'),
           count(*) FILTER (WHERE c.op = 'count_pull'),
           max(c.at) FILTER (WHERE c.op = 'count_pull')
    FROM (SELECT c.*,
                 row_number() OVER (PARTITION BY c.rid, c.tag, c.op IN ('set_tag', 'delete_tag')
                                    ORDER BY c.at DESC, c.event DESC, c.pi DESC, c.ci DESC) = 1 AS top
          FROM unnest(cmds) AS c
          WHERE c.op IN ('set_tag', 'delete_tag', 'count_push', 'count_pull') AND c.tag IS NOT NULL) AS c
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
