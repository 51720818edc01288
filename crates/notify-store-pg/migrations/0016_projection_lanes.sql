-- Lanes: each projector prefers the queued events of its own share of the repositories.
--
-- Every batch the projectors take holds events of the busiest repositories, and
-- `project_commands` updates each repository's row, its links and its tags. Two projectors
-- taking the queue in order therefore update the same rows at once, and the second waits
-- for the first to commit: its upsert finds the row being updated and waits for that
-- transaction to end. Sampled while 10 M events were loaded (2026-12-07), a third of the
-- projectors' time went to that wait, and with it a third of the second projector.
--
-- Each queued row now carries its repository's lane, a hash of (registry, name). With N
-- projectors, projector k first takes the rows whose lane is k modulo N, so two projectors
-- touch the same repository's rows only when one finds its own lane empty and helps with
-- another. Content is global by digest and still shared, but a batch only writes content
-- rows that it changes (new content, a greater size or media type), which few events do.
--
-- The projection's result does not depend on the order its commands are taken in (every
-- merge is by time and event id, every counter a sum), so lanes change when an event is
-- projected, never what it leaves.

-- The lane of a repository: any stable hash does, the queue being emptied continually.
CREATE FUNCTION lane_of(registry text, repository text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN hashtext(registry || '/' || repository) & 65535;

ALTER TABLE pending ADD COLUMN lane integer NOT NULL DEFAULT 0;

-- `enqueue` and `enqueue_one` (migration 13) with the lane.
CREATE OR REPLACE FUNCTION enqueue(ids text[], ats bigint[], actions text[], registries text[], repositories text[],
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
        INSERT INTO pending (id, lane, commands)
        SELECT g.id, lane_of(g.registry, g.repository), g.commands
        FROM unnest(ids, registries, repositories, commands) WITH ORDINALITY AS g(id, registry, repository, commands, n)
        WHERE g.id = ANY (fresh)
        ORDER BY g.n;
    END IF;
    RETURN fresh;
END
$fn$;

CREATE OR REPLACE FUNCTION enqueue_one(p_id text, p_at bigint, p_action text, p_registry text, p_repository text,
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
    INSERT INTO pending (id, lane, commands) VALUES (p_id, lane_of(p_registry, p_repository), p_commands);
    RETURN true;
END
$fn$;

-- `project_lane(n, low, upto, lanes, own) -> (taken, last)`: `project_from` (migration 14)
-- taking first the rows of lane `own` modulo `lanes`, and any row when that lane has none in
-- `[low, upto]`. With `lanes` 1, `project_from` itself.
CREATE FUNCTION project_lane(n integer, low bigint, upto bigint, lanes integer, own integer,
                             OUT taken integer, OUT last bigint)
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
    any_lane boolean;
BEGIN
    -- The caller's implicit transaction: the queue still holds what a lost commit took.
    PERFORM set_config('synchronous_commit', 'off', true);
    -- Its own lane, then any lane if that took nothing; any lane at once with one lane.
    FOREACH any_lane IN ARRAY CASE WHEN lanes > 1 THEN ARRAY[false, true] ELSE ARRAY[true] END LOOP
        WITH t AS (
            DELETE FROM pending
            WHERE seq IN (SELECT p.seq FROM pending p
                          WHERE p.seq >= low AND p.seq <= upto AND (any_lane OR p.lane % lanes = own)
                          ORDER BY p.seq LIMIT n FOR UPDATE SKIP LOCKED)
            RETURNING seq, commands)
        SELECT count(*), max(t.seq), array_agg(t.commands::jsonb ORDER BY t.seq) INTO taken, last, batch FROM t;
        EXIT WHEN taken > 0;
    END LOOP;
    IF taken > 0 THEN
        PERFORM project_commands(plan_commands(batch));
    END IF;
END
$fn$;
