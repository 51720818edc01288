-- The referrers of a digest, paged.
--
-- A base layer shared by a whole registry is referenced by tens of thousands of manifests;
-- its referrers are now read a page at a time, `(parent, kind)` after a cursor. Keyed on the
-- child alone, the index found every referencing row and left them to be sorted; keyed on
-- `(child, parent, kind)` it returns a page in order, from the index alone.
--
-- The repositories of a digest need no new index: a page of them is either a few links found
-- by `links_digest`, or, for a digest held by most repositories, a walk of the repositories
-- in name order probing each one's link by its primary key; the planner picks one from the
-- statistics of `links.digest`.
CREATE INDEX content_references_referrers ON content_references (child, parent, kind);
DROP INDEX content_references_child;
