-- Taking from the queue above a mark, so that a batch does not walk the queue's dead rows.
--
-- `project` took the oldest queued rows with `seq <= upto ORDER BY seq LIMIT n`: an index
-- scan from the queue's first entry, over the entries of every row projected since the last
-- vacuum of the queue. Those are cheap to pass once marked dead, but they cannot be marked
-- while a snapshot older than their deletion is open (a long report, `pg_dump`, the ANALYZE
-- of a large table), and then every batch visits each of their rows in the heap. Measured on
-- a queue of 10,000 rows behind 490,000 deleted ones: 65 ms to take 512 rows with such a
-- snapshot open, 3–7 ms after it closed, and 0.37 ms from a mark just below the live rows.
--
-- `project_from(n, low, upto)` takes rows with `seq` in `[low, upto]` and returns how many it
-- took and the greatest `seq` it took. A projector starts each drain at 0, then moves its
-- mark past what it took; since a writer may commit a row whose `seq` is below the mark after
-- the mark moved, a drain ends only when a pass from 0 finds nothing (see the crate's
-- `project` module). Rows below the mark are never lost: every drain and every read starts
-- from 0.

CREATE FUNCTION project_from(n integer, low bigint, upto bigint, OUT taken integer, OUT last bigint)
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
BEGIN
    -- The caller's implicit transaction: the queue still holds what a lost commit took.
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH t AS (
        DELETE FROM pending
        WHERE seq IN (SELECT seq FROM pending WHERE seq >= low AND seq <= upto
                      ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED)
        RETURNING seq, commands)
    SELECT count(*), max(t.seq), array_agg(t.commands::jsonb ORDER BY t.seq) INTO taken, last, batch FROM t;
    IF taken > 0 THEN
        PERFORM project_commands(plan_commands(batch));
    END IF;
END
$fn$;

-- `project(n, upto)`: from the start, as before.
CREATE OR REPLACE FUNCTION project(n integer, upto bigint) RETURNS integer
LANGUAGE sql
SET search_path FROM CURRENT
RETURN (SELECT p.taken FROM project_from(n, 0, upto) AS p);
