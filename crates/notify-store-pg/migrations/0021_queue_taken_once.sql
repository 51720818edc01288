-- A batch's queue rows chosen once, whatever the plan was made from.
--
-- `project_lane` (migration 16) and `project_from` (migration 14) deleted
-- `WHERE seq IN (SELECT … ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED)`. The planner may run
-- that `IN` as a semi join with the queue outside and the locked subquery inside, run again
-- for every queued row: it does when the generic plan is made while the queue's file is
-- empty, which it is after a vacuum has truncated a drained queue, and the plan then stays
-- until the next invalidation. Each batch then took the queue's rows times its own rows,
-- and more rows than `n` (each run of the subquery skips what the runs before it locked).
-- Seen while 10 M events were loaded (2026-12-07): one batch of 1,498 rows read
-- 61 M buffers in 30 s, and the projection stood still for minutes at a time. Reproduced on
-- a queue of 5,000 rows behind such a plan: 2,628 ms and 2,500 rows for a batch of 512.
--
-- `seq = ANY (ARRAY(subquery))` makes the subquery an init plan, run once, and the delete
-- a lookup of its rows by key: 1.2 ms and 512 rows in the same state.

CREATE OR REPLACE FUNCTION project_lane(n integer, low bigint, upto bigint, lanes integer, own integer,
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
            WHERE seq = ANY (ARRAY(SELECT p.seq FROM pending p
                                   WHERE p.seq >= low AND p.seq <= upto AND (any_lane OR p.lane % lanes = own)
                                   ORDER BY p.seq LIMIT n FOR UPDATE SKIP LOCKED))
            RETURNING seq, commands)
        SELECT count(*), max(t.seq), array_agg(t.commands::jsonb ORDER BY t.seq) INTO taken, last, batch FROM t;
        EXIT WHEN taken > 0;
    END LOOP;
    IF taken > 0 THEN
        PERFORM project_commands(plan_commands(batch));
    END IF;
END
$fn$;

-- No longer called by the store, but a replica of an earlier version may still call it:
-- `project_lane` with one lane is the same function.
CREATE OR REPLACE FUNCTION project_from(n integer, low bigint, upto bigint, OUT taken integer, OUT last bigint)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    SELECT p.taken, p.last INTO taken, last FROM project_lane(n, low, upto, 1, 0) AS p;
END
$fn$;
