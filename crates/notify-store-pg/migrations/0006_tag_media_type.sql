-- A live tag carries its digest's media type, and a repository's live tags are one index.
--
-- An inventory page lists 1,000 live tags with the media type of each one's digest. It read
-- each tag's heap row (a live tag sits alone on its page, since pulls keep rewriting tag
-- rows) and then the digest's content row (2.5 M rows, 0.7 GB at 10 M events). That made
-- about 2,000 scattered page reads per page: 9 ms when they were cached and 1.6 s when they
-- were not (p99 326–559 ms over a 10 M-event database as large as memory). Now the media type
-- is copied onto the tag row, and the live tags' index includes what a page shows. A page
-- is then a range of that index, read index-only wherever the heap pages are all-visible.
--
-- The copy is kept by triggers, like liveness (migration 4), so both writers stay as they
-- are:
-- - a tag's register changes     → `tags_media_type` (BEFORE, the row itself);
-- - a content row's media type   → `content_media_type` (AFTER, the tags of its digest).
--   It changes when a later event declares a greater media type for the digest (the core's
--   merge), and is set when a tag's digest was not yet known as content.
--
-- Locks: `content_media_type` locks the tags it changes, which it finds by digest and not
-- through their repository's row as every other writer does. It changes a tag only when the
-- media type of its digest changes, which is rare; the deadlock that this allows (another
-- transaction holding that tag's repository and waiting for the tag) is retried like any
-- other.

ALTER TABLE tags ADD COLUMN media_type text COLLATE "C";
UPDATE tags t SET media_type = c.media_type
FROM content c WHERE c.digest = t.digest AND c.media_type IS NOT NULL;

CREATE FUNCTION tags_media_type() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    NEW.media_type := (SELECT c.media_type FROM content c WHERE c.digest = NEW.digest);
    RETURN NEW;
END
$fn$;
CREATE TRIGGER tags_media_type_insert BEFORE INSERT ON tags FOR EACH ROW
    WHEN (NEW.digest IS NOT NULL)
    EXECUTE FUNCTION tags_media_type();
CREATE TRIGGER tags_media_type_update BEFORE UPDATE ON tags FOR EACH ROW
    WHEN (OLD.digest IS DISTINCT FROM NEW.digest)
    EXECUTE FUNCTION tags_media_type();

CREATE FUNCTION content_media_type() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    UPDATE tags t SET media_type = NEW.media_type
    WHERE t.digest = NEW.digest AND t.media_type IS DISTINCT FROM NEW.media_type;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER content_media_type_insert AFTER INSERT ON content FOR EACH ROW
    WHEN (NEW.media_type IS NOT NULL)
    EXECUTE FUNCTION content_media_type();
CREATE TRIGGER content_media_type_update AFTER UPDATE ON content FOR EACH ROW
    WHEN (OLD.media_type IS DISTINCT FROM NEW.media_type)
    EXECUTE FUNCTION content_media_type();

-- A view's `*` was expanded when it was created: again, to take the new column.
DROP VIEW live_tags;
CREATE VIEW live_tags AS SELECT * FROM tags WHERE live;

CREATE INDEX tags_live_items ON tags (repo_id, tag) INCLUDE (digest, media_type) WHERE live;
DROP INDEX tags_live;
