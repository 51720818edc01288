-- `enqueue_one(id, plan) -> boolean`: `enqueue` for a batch of one, which is every batch of
-- one sender at a time.
--
-- `enqueue` takes arrays and returns one: for a single plan, unnesting and aggregating them
-- cost more than queueing it. Measured with pgbench, one client, fsync off, a log of 300,000
-- events and plans of 2.2 KB: 0.184–0.210 ms per call of `enqueue` against 0.135–0.165 ms
-- for this function, and 0.086–0.111 ms for a bare `INSERT` of the row. Dropping the
-- planner settings changed nothing measurable (0.144–0.158 ms), so they stay, for the same
-- reason as in `enqueue`: a plan cached while the log was small must not scan it later.
--
-- The same rules as `enqueue`: the plan is queued unless the log or the queue holds its id,
-- and a plan whose insert waited for a projection of the same id, which committed
-- meanwhile, is taken out again by the second statement, which sees that commit. True
-- when the plan was queued, false for a duplicate.

CREATE FUNCTION enqueue_one(p_id text, p_plan text) RETURNS boolean
LANGUAGE plpgsql
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $fn$
BEGIN
    INSERT INTO pending (id, plan)
    SELECT p_id, p_plan
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = p_id COLLATE "C")
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM pending p
    WHERE p.id = p_id COLLATE "C"
      AND EXISTS (SELECT 1 FROM events e WHERE e.id = p_id COLLATE "C");
    RETURN NOT FOUND;
END
$fn$;
