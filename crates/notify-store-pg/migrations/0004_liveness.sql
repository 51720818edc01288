-- Liveness kept on write: `tags.live`, `links.live`, and each repository's count of both.
--
-- Until now the views of migration 1 decided liveness on every read, so the statistics of a
-- repository counted its live tags and links by reading all of them (147,031 links in the
-- busiest repository of a 10 M-event database, 0.5–1.8 s), and every tag list and inventory
-- page joined each tag to its link and repository. Here the same rules are evaluated when an
-- input of them changes, by triggers, so that both writers (`apply_plan` and `apply_plans`)
-- keep them without knowing of them, and reads become an index range or a column.
--
-- The rules, unchanged (the core's `Tombstone` rules; row comparisons with NULL give NULL,
-- i.e. no delete, no hiding):
-- - a tag is live when its register holds a digest (its newest entry is a set) and neither
--   the delete of that digest's link nor the repository's delete is newer than the set;
-- - a link is live when it was seen and neither its delete nor the repository's delete is
--   newer than its newest sighting.
--
-- What each depends on, and the trigger that re-evaluates it when that changes:
-- - a tag's own register                 → `tags_liveness` (BEFORE, the row itself);
-- - a link's sightings and delete        → `links_liveness` (BEFORE, the row itself);
-- - a link's delete                      → `links_tombstone` (AFTER, the tags of its digest);
-- - a repository's delete                → `repositories_tombstone` (AFTER, all its rows);
-- - any change of `live`                 → `live_count` (AFTER, the repository's counters).
-- Every writer locks the repository row before touching its links and tags (migrations 2
-- and 3), so the counters' updates of that row add no lock and no new lock order.
--
-- Event ids compare with COLLATE "C" throughout, like every stored id: a parameter has the
-- database's collation otherwise.

ALTER TABLE tags ADD COLUMN live boolean NOT NULL DEFAULT false;
ALTER TABLE links ADD COLUMN live boolean NOT NULL DEFAULT false;
ALTER TABLE repositories
    ADD COLUMN live_tags bigint NOT NULL DEFAULT 0,
    ADD COLUMN live_links bigint NOT NULL DEFAULT 0;

CREATE FUNCTION tag_is_live(p_repo bigint, p_digest text, p_at timestamptz, p_event text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN p_digest IS NOT NULL AND p_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM links l
                   WHERE l.repo_id = p_repo AND l.digest = p_digest COLLATE "C"
                     AND (l.deleted_at, l.deleted_event) > (p_at, p_event COLLATE "C"))
   AND NOT EXISTS (SELECT 1 FROM repositories r
                   WHERE r.id = p_repo
                     AND (r.deleted_at, r.deleted_event) > (p_at, p_event COLLATE "C"));

CREATE FUNCTION link_is_live(p_repo bigint, p_seen_at timestamptz, p_seen_event text,
                             p_deleted_at timestamptz, p_deleted_event text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
RETURN p_seen_at IS NOT NULL
   AND NOT coalesce((p_deleted_at, p_deleted_event COLLATE "C") > (p_seen_at, p_seen_event COLLATE "C"), false)
   AND NOT EXISTS (SELECT 1 FROM repositories r
                   WHERE r.id = p_repo
                     AND (r.deleted_at, r.deleted_event) > (p_seen_at, p_seen_event COLLATE "C"));

-- The rows of this schema as they stand, before any trigger exists.
UPDATE links SET live = true
WHERE link_is_live(repo_id, seen_at, seen_event, deleted_at, deleted_event);
UPDATE tags SET live = true
WHERE tag_is_live(repo_id, digest, set_at, set_event);
UPDATE repositories r SET
    live_tags = (SELECT count(*) FROM tags t WHERE t.repo_id = r.id AND t.live),
    live_links = (SELECT count(*) FROM links l WHERE l.repo_id = r.id AND l.live);

-- A row's own liveness, set before it is written.
CREATE FUNCTION tags_liveness() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    NEW.live := tag_is_live(NEW.repo_id, NEW.digest, NEW.set_at, NEW.set_event);
    RETURN NEW;
END
$fn$;
-- A row inserted without a digest (counters only) keeps the default, false.
CREATE TRIGGER tags_liveness_insert BEFORE INSERT ON tags FOR EACH ROW
    WHEN (NEW.digest IS NOT NULL)
    EXECUTE FUNCTION tags_liveness();
-- Counters change on every pull; only a new register can change liveness.
CREATE TRIGGER tags_liveness_update BEFORE UPDATE ON tags FOR EACH ROW
    WHEN ((OLD.digest, OLD.set_at, OLD.set_event) IS DISTINCT FROM (NEW.digest, NEW.set_at, NEW.set_event))
    EXECUTE FUNCTION tags_liveness();

CREATE FUNCTION links_liveness() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    NEW.live := link_is_live(NEW.repo_id, NEW.seen_at, NEW.seen_event, NEW.deleted_at, NEW.deleted_event);
    RETURN NEW;
END
$fn$;
CREATE TRIGGER links_liveness_insert BEFORE INSERT ON links FOR EACH ROW
    WHEN (NEW.seen_at IS NOT NULL)
    EXECUTE FUNCTION links_liveness();
-- Most updates are a pull: a newer sighting of a live link, which stays live (sightings only
-- grow, and a delete hides only what is older than itself), or counters alone.
CREATE TRIGGER links_liveness_update BEFORE UPDATE ON links FOR EACH ROW
    WHEN ((OLD.deleted_at, OLD.deleted_event) IS DISTINCT FROM (NEW.deleted_at, NEW.deleted_event)
          OR (NOT OLD.live AND (OLD.seen_at, OLD.seen_event) IS DISTINCT FROM (NEW.seen_at, NEW.seen_event)))
    EXECUTE FUNCTION links_liveness();

-- The tags of a digest whose link's delete changed.
CREATE FUNCTION links_tombstone() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    UPDATE tags t SET live = NOT t.live
    WHERE t.repo_id = NEW.repo_id AND t.digest = NEW.digest
      AND t.live IS DISTINCT FROM tag_is_live(t.repo_id, t.digest, t.set_at, t.set_event);
    RETURN NULL;
END
$fn$;
CREATE TRIGGER links_tombstone_insert AFTER INSERT ON links FOR EACH ROW
    WHEN (NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION links_tombstone();
CREATE TRIGGER links_tombstone_update AFTER UPDATE ON links FOR EACH ROW
    WHEN ((OLD.deleted_at, OLD.deleted_event) IS DISTINCT FROM (NEW.deleted_at, NEW.deleted_event))
    EXECUTE FUNCTION links_tombstone();

-- Everything of a repository whose delete changed. A newer delete can only hide, so only
-- live rows are looked at. Rare (registry 3.x's repository deletes), and proportional to the
-- repository's size.
CREATE FUNCTION repositories_tombstone() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    UPDATE links l SET live = false
    WHERE l.repo_id = NEW.id AND l.live
      AND NOT link_is_live(l.repo_id, l.seen_at, l.seen_event, l.deleted_at, l.deleted_event);
    UPDATE tags t SET live = false
    WHERE t.repo_id = NEW.id AND t.live
      AND NOT tag_is_live(t.repo_id, t.digest, t.set_at, t.set_event);
    RETURN NULL;
END
$fn$;
CREATE TRIGGER repositories_tombstone AFTER UPDATE ON repositories FOR EACH ROW
    WHEN ((OLD.deleted_at, OLD.deleted_event) IS DISTINCT FROM (NEW.deleted_at, NEW.deleted_event))
    EXECUTE FUNCTION repositories_tombstone();

-- The counters, one function for both tables. Rows are never deleted, so inserts and
-- updates are all there is.
CREATE FUNCTION live_count() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    delta bigint := CASE WHEN NEW.live THEN 1 ELSE -1 END;
BEGIN
    UPDATE repositories SET
        live_tags = live_tags + CASE WHEN TG_TABLE_NAME = 'tags' THEN delta ELSE 0 END,
        live_links = live_links + CASE WHEN TG_TABLE_NAME = 'links' THEN delta ELSE 0 END
    WHERE id = NEW.repo_id;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER tags_count_insert AFTER INSERT ON tags FOR EACH ROW
    WHEN (NEW.live) EXECUTE FUNCTION live_count();
CREATE TRIGGER tags_count_update AFTER UPDATE ON tags FOR EACH ROW
    WHEN (OLD.live IS DISTINCT FROM NEW.live) EXECUTE FUNCTION live_count();
CREATE TRIGGER links_count_insert AFTER INSERT ON links FOR EACH ROW
    WHEN (NEW.live) EXECUTE FUNCTION live_count();
CREATE TRIGGER links_count_update AFTER UPDATE ON links FOR EACH ROW
    WHEN (OLD.live IS DISTINCT FROM NEW.live) EXECUTE FUNCTION live_count();

-- The views keep their names and columns for the readers, now a filter on the flag.
DROP VIEW live_tags;
DROP VIEW live_links;
CREATE VIEW live_tags AS SELECT * FROM tags WHERE live;
CREATE VIEW live_links AS SELECT * FROM links WHERE live;

-- A repository's live tags in order: the tag list and every inventory page.
CREATE INDEX tags_live ON tags (repo_id, tag) WHERE live;
