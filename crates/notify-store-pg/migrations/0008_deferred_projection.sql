-- Deferred projection: an event is acknowledged once its plan is durably queued, and the
-- projections (the log included) are written behind it, in large batches.
--
-- With `projection=deferred` (see `PgConfig::projection`) the store's writers do not call
-- `apply_plans`; they insert each plan, as the wire text the apply functions read, into
-- `pending`, one statement and one commit per batch. A projector task then takes the oldest
-- pending plans, hands them to `apply_plans` and deletes them, in one transaction: the
-- projection of a plan and its removal from the queue commit together or not at all, so a
-- crash at any point leaves each plan either queued or projected, never both, never neither.
-- Those transactions commit asynchronously: one lost in a crash is a plan still queued, and
-- it is projected again.
--
-- Dedup stays exact, and so does the answer (applied or duplicate). The queue's unique `id`
-- refuses a second delivery while the first is queued, and the enqueue skips an id the log
-- already holds, and looks again for one whose projection committed while it waited (see
-- `enqueue`). Should a duplicate still be queued, `apply_plans`' own gate, the log's
-- primary key, makes its projection a no-op.
--
-- Readers see every acknowledged event: before a read, the store projects what is queued
-- (see the crate's `project` module), so the queue is invisible through the `Storage` trait.

CREATE TABLE pending (
    seq  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id   text COLLATE "C" NOT NULL UNIQUE,
    -- The wire plan (the argument `apply_plan` takes) as text: parsed once, when projected.
    plan text NOT NULL
)
-- Plans are one to a few KiB: kept in the row, never compressed (compression would cost the
-- acknowledgement path more than the bytes it saves in a queue that empties itself).
WITH (toast_tuple_target = 8160);
ALTER TABLE pending ALTER COLUMN plan SET STORAGE EXTERNAL;

-- `enqueue(ids, plans) -> text[]`: queues the plans whose ids are neither logged nor queued;
-- returns those ids. Same planner settings as the apply functions: a batch finds its rows
-- by key, whatever the table sizes.
CREATE FUNCTION enqueue(ids text[], plans text[]) RETURNS text[]
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
DECLARE
    queued text[];
    late   text[];
BEGIN
    WITH q AS (
        INSERT INTO pending (id, plan)
        SELECT g.id, g.plan
        FROM unnest(ids, plans) AS g(id, plan)
        WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = g.id COLLATE "C")
        ORDER BY g.id COLLATE "C"
        ON CONFLICT (id) DO NOTHING
        RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO queued FROM q;
    IF cardinality(queued) = 0 THEN
        RETURN queued;
    END IF;
    -- An insert that waited for a projection holding the same id finds no conflict once
    -- that projection has committed (it deleted the row), and the log check above ran
    -- before that commit. This statement sees the commit: such a plan is a duplicate.
    WITH gone AS (
        DELETE FROM pending p
        WHERE p.id = ANY (queued)
          AND EXISTS (SELECT 1 FROM events e WHERE e.id = p.id)
        RETURNING p.id)
    SELECT coalesce(array_agg(id), '{}') INTO late FROM gone;
    IF cardinality(late) = 0 THEN
        RETURN queued;
    END IF;
    RETURN ARRAY(SELECT unnest(queued) EXCEPT SELECT unnest(late));
END
$fn$;

-- `project(n, upto) -> integer`: projects the (at most) n oldest queued plans up to `seq`
-- `upto` that no other transaction is projecting; returns how many it took (0: nothing
-- left to take).
CREATE FUNCTION project(n integer, upto bigint) RETURNS integer
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    plans jsonb;
    taken integer;
BEGIN
    -- The caller's implicit transaction: the queue still holds what a lost commit took.
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH taken AS (
        DELETE FROM pending
        WHERE seq IN (SELECT seq FROM pending WHERE seq <= upto ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED)
        RETURNING plan)
    SELECT count(*), jsonb_agg(t.plan::jsonb) INTO taken, plans FROM taken t;
    IF taken > 0 THEN
        PERFORM apply_plans(plans);
    END IF;
    RETURN taken;
END
$fn$;

-- `project_one(seq) -> boolean`: the same for one queued plan, to find the plan a batch
-- fails on. False when it is no longer queued.
CREATE FUNCTION project_one(s bigint) RETURNS boolean
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    p text;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    DELETE FROM pending WHERE seq = s RETURNING plan INTO p;
    IF p IS NULL THEN
        RETURN false;
    END IF;
    PERFORM apply_plan(p::jsonb);
    RETURN true;
END
$fn$;
