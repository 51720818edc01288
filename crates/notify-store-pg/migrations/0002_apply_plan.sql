-- `apply_plan(plan jsonb) -> boolean`: one event, applied server-side in one call.
--
-- The argument is the wire form built by the crate's `apply` module (not the core's serde
-- shape, so that a change there cannot silently change what this function reads): the log
-- entry's columns, times as Unix microseconds, and `commands`, each with an `op`.
--
-- The event insert is the dedup gate: when the id is already logged (or being logged by a
-- concurrent transaction, which the unique index makes this one wait for), nothing else is
-- written and the function returns false. Otherwise every command is merged, in order, with
-- the rules of the core's `command` module; the caller's transaction makes it all-or-nothing.
CREATE FUNCTION apply_plan(plan jsonb) RETURNS boolean
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    c          jsonb;
    v_op       text;
    v_rid      bigint;
    v_registry text COLLATE "C";
    v_name     text COLLATE "C";
    v_at       timestamptz;
    v_ev       text COLLATE "C";
    v_actor    text COLLATE "C";
    v_kind     content_kind;
    v_mt       text COLLATE "C";
    v_size     bigint;
    v_artifact text COLLATE "C";
    v_current  boolean;
BEGIN
    INSERT INTO events (id, at, action, registry, repository, tag, digest, media_type, kind, actor,
                        client_ip, method, user_agent, source_instance, counted, raw)
    VALUES (plan->>'id', ts((plan->>'at')::bigint), plan->>'action', plan->>'registry',
            plan->>'repository', plan->>'tag', plan->>'digest', plan->>'media_type',
            (plan->>'kind')::content_kind, plan->>'actor', plan->>'client_ip', plan->>'method',
            plan->>'user_agent', plan->>'source_instance', (plan->>'counted')::boolean, plan->>'raw')
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    FOR c IN SELECT value FROM jsonb_array_elements(plan->'commands') LOOP
        v_op := c->>'op';

        IF v_op = 'content' THEN
            v_kind := (c->>'kind')::content_kind;
            v_mt := c->>'media_type';
            v_size := (c->>'size')::bigint;
            v_artifact := c->>'artifact_type';
            v_at := ts((c->>'seen')::bigint);
            -- Most events repeat what is known (every pull of a base layer). The upsert would
            -- lock the row even when it changes nothing, serialising all writers of a popular
            -- digest; merges only grow, so a row that already covers this event stays so.
            SELECT NOT (v_kind > x.kind
                        OR (v_kind = x.kind AND v_mt IS NOT NULL AND (x.media_type IS NULL OR v_mt > x.media_type))
                        OR (v_size IS NOT NULL AND (x.size IS NULL OR v_size > x.size))
                        OR (v_artifact IS NOT NULL AND (x.artifact_type IS NULL OR v_artifact > x.artifact_type))
                        OR v_at < x.first_seen)
            INTO v_current
            FROM content x WHERE x.digest = c->>'digest';
            IF v_current IS NOT TRUE THEN
                INSERT INTO content AS x (digest, kind, media_type, size, artifact_type, first_seen)
                VALUES (c->>'digest', v_kind, v_mt, v_size, v_artifact, v_at)
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
            END IF;

            IF jsonb_array_length(c->'refs') > 0 THEN
                -- As with the content row: only references that add something are written,
                -- so that pulls of a popular manifest do not queue on its reference rows.
                INSERT INTO content_references AS x (parent, child, kind, media_type, size)
                SELECT c->>'digest', r.digest, r.kind::reference_kind, r.media_type, r.size
                FROM jsonb_to_recordset(c->'refs') AS r(digest text, kind text, media_type text, size bigint)
                WHERE NOT EXISTS (
                    SELECT 1 FROM content_references k
                    WHERE k.parent = c->>'digest' AND k.child = r.digest AND k.kind = r.kind::reference_kind
                      AND (r.media_type IS NULL OR (k.media_type IS NOT NULL AND k.media_type >= r.media_type))
                      AND k.size >= r.size)
                ON CONFLICT (parent, child, kind) DO UPDATE SET
                    media_type = greatest(x.media_type, EXCLUDED.media_type),
                    size = greatest(x.size, EXCLUDED.size);
            END IF;
            CONTINUE;
        END IF;

        -- Every other command is about one repository; plans name the same one throughout.
        -- Its row is locked first, before any of its links, tags or actors: one lock order
        -- for all writers of a repository, so they queue instead of deadlocking (a pull's
        -- counters and a push's tag would otherwise take the tag and repository rows in
        -- opposite orders). NO KEY UPDATE leaves the foreign-key checks of other tables free.
        IF v_rid IS NULL OR v_registry IS DISTINCT FROM c->>'registry'
           OR v_name IS DISTINCT FROM c->>'repository' THEN
            v_registry := c->>'registry';
            v_name := c->>'repository';
            v_rid := NULL;
            SELECT id INTO v_rid FROM repositories WHERE registry = v_registry AND name = v_name
            FOR NO KEY UPDATE;
            IF v_rid IS NULL THEN
                INSERT INTO repositories (registry, name) VALUES (v_registry, v_name)
                ON CONFLICT (registry, name) DO NOTHING
                RETURNING id INTO v_rid;
                -- Lost the race to a concurrent insert, which has committed by now.
                IF v_rid IS NULL THEN
                    SELECT id INTO v_rid FROM repositories WHERE registry = v_registry AND name = v_name
                    FOR NO KEY UPDATE;
                END IF;
            END IF;
        END IF;
        v_at := ts((c->>'at')::bigint);
        v_ev := c->>'event';
        v_actor := c->>'actor';

        CASE v_op
        WHEN 'link' THEN
            INSERT INTO links AS l (repo_id, digest, first_seen, seen_at, seen_event)
            VALUES (v_rid, c->>'digest', v_at, v_at, v_ev)
            ON CONFLICT (repo_id, digest) DO UPDATE SET
                first_seen = least(l.first_seen, EXCLUDED.first_seen),
                seen_at = CASE WHEN l.seen_at IS NULL OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (l.seen_at, l.seen_event)
                               THEN EXCLUDED.seen_at ELSE l.seen_at END,
                seen_event = CASE WHEN l.seen_at IS NULL OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (l.seen_at, l.seen_event)
                                  THEN EXCLUDED.seen_event ELSE l.seen_event END
            WHERE l.first_seen IS NULL OR EXCLUDED.first_seen < l.first_seen
               OR l.seen_at IS NULL OR (EXCLUDED.seen_at, EXCLUDED.seen_event) > (l.seen_at, l.seen_event);
            UPDATE repositories SET seen_at = v_at, seen_event = v_ev
            WHERE id = v_rid AND (seen_at IS NULL OR (v_at, v_ev) > (seen_at, seen_event));

        WHEN 'set_tag', 'delete_tag' THEN
            -- The same stamp twice can only come from one plan: the later command wins, as
            -- in the reference store's history map.
            INSERT INTO tag_history AS h (repo_id, tag, at, event_id, digest, actor)
            VALUES (v_rid, c->>'tag', v_at, v_ev, c->>'digest', v_actor)
            ON CONFLICT (repo_id, tag, at, event_id) DO UPDATE SET digest = EXCLUDED.digest, actor = EXCLUDED.actor;
            INSERT INTO tags AS t (repo_id, tag, set_at, set_event, digest, actor)
            VALUES (v_rid, c->>'tag', v_at, v_ev, c->>'digest', v_actor)
            ON CONFLICT (repo_id, tag) DO UPDATE SET
                set_at = EXCLUDED.set_at, set_event = EXCLUDED.set_event,
                digest = EXCLUDED.digest, actor = EXCLUDED.actor
            WHERE t.set_at IS NULL OR (EXCLUDED.set_at, EXCLUDED.set_event) >= (t.set_at, t.set_event);
            IF v_op = 'set_tag' THEN
                UPDATE repositories SET seen_at = v_at, seen_event = v_ev
                WHERE id = v_rid AND (seen_at IS NULL OR (v_at, v_ev) > (seen_at, seen_event));
            END IF;

        WHEN 'delete_content' THEN
            INSERT INTO links AS l (repo_id, digest, deleted_at, deleted_event, deleted_by)
            VALUES (v_rid, c->>'digest', v_at, v_ev, v_actor)
            ON CONFLICT (repo_id, digest) DO UPDATE SET
                deleted_at = EXCLUDED.deleted_at, deleted_event = EXCLUDED.deleted_event,
                deleted_by = EXCLUDED.deleted_by
            WHERE l.deleted_at IS NULL OR (EXCLUDED.deleted_at, EXCLUDED.deleted_event) > (l.deleted_at, l.deleted_event);

        WHEN 'delete_repository' THEN
            UPDATE repositories SET deleted_at = v_at, deleted_event = v_ev, deleted_by = v_actor
            WHERE id = v_rid AND (deleted_at IS NULL OR (v_at, v_ev) > (deleted_at, deleted_event));

        WHEN 'count_push' THEN
            UPDATE repositories SET push_count = push_count + 1,
                first_push = least(first_push, v_at), last_push = greatest(last_push, v_at)
            WHERE id = v_rid;
            IF v_actor IS NOT NULL THEN
                INSERT INTO repository_actors (repo_id, role, actor) VALUES (v_rid, 'push', v_actor)
                ON CONFLICT DO NOTHING;
            END IF;
            IF c->>'tag' IS NOT NULL THEN
                INSERT INTO tags AS t (repo_id, tag, push_count) VALUES (v_rid, c->>'tag', 1)
                ON CONFLICT (repo_id, tag) DO UPDATE SET push_count = t.push_count + 1;
            END IF;

        WHEN 'count_pull' THEN
            UPDATE repositories SET pull_count = pull_count + 1,
                first_pull = least(first_pull, v_at), last_pull = greatest(last_pull, v_at)
            WHERE id = v_rid;
            IF v_actor IS NOT NULL THEN
                INSERT INTO repository_actors (repo_id, role, actor) VALUES (v_rid, 'pull', v_actor)
                ON CONFLICT DO NOTHING;
            END IF;
            IF c->>'tag' IS NOT NULL THEN
                INSERT INTO tags AS t (repo_id, tag, pull_count, last_pulled) VALUES (v_rid, c->>'tag', 1, v_at)
                ON CONFLICT (repo_id, tag) DO UPDATE SET
                    pull_count = t.pull_count + 1, last_pulled = greatest(t.last_pulled, EXCLUDED.last_pulled);
            END IF;
            IF c->>'digest' IS NOT NULL THEN
                INSERT INTO links AS l (repo_id, digest, pull_count, last_pulled) VALUES (v_rid, c->>'digest', 1, v_at)
                ON CONFLICT (repo_id, digest) DO UPDATE SET
                    pull_count = l.pull_count + 1, last_pulled = greatest(l.last_pulled, EXCLUDED.last_pulled);
            END IF;

        ELSE
            RAISE EXCEPTION 'apply_plan: unknown command %', v_op;
        END CASE;
    END LOOP;
    RETURN true;
END
$fn$;
