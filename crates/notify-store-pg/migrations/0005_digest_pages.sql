-- The repositories and the referrers of a digest, a page at a time.
--
-- A base layer shared by a whole registry is held by thousands of repositories and
-- referenced by tens of thousands of manifests. Both lists are now read as keyset pages in
-- their order, and each needs an index in that order:
--
-- - referrers, `(parent, kind)` of a child: the index keyed on the child alone found every
--   referencing row and left them to be sorted; keyed on `(child, parent, kind)` it returns a
--   page in order from the index alone;
-- - repositories, `(registry, name)` of a digest's links: a link knew its repository by id
--   only, so a page meant either reading every link of the digest and sorting by name, or
--   walking the repositories in name order and probing each for a link (about 10 ms either
--   way for a base layer held by 900 of 5,000 repositories, and no estimate tells the planner
--   which costs less). A link now carries its repository's registry and name, which never
--   change for an id, set once by a trigger when the row is inserted, so that both writers
--   stay as they are; `(digest, registry, name)` then reads a page as one index range.

CREATE INDEX content_references_referrers ON content_references (child, parent, kind);
DROP INDEX content_references_child;

ALTER TABLE links ADD COLUMN registry text COLLATE "C", ADD COLUMN name text COLLATE "C";
UPDATE links l SET registry = r.registry, name = r.name FROM repositories r WHERE r.id = l.repo_id;
ALTER TABLE links ALTER COLUMN registry SET NOT NULL, ALTER COLUMN name SET NOT NULL;

CREATE FUNCTION links_repository() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    SELECT r.registry, r.name INTO NEW.registry, NEW.name FROM repositories r WHERE r.id = NEW.repo_id;
    RETURN NEW;
END
$fn$;
-- Every proposed row, also one that becomes an update on conflict: its names are discarded
-- then, since the upserts' SET lists never name these columns.
CREATE TRIGGER links_repository BEFORE INSERT ON links FOR EACH ROW
    EXECUTE FUNCTION links_repository();

CREATE INDEX links_digest_repository ON links (digest, registry, name);
DROP INDEX links_digest;
