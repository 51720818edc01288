-- The repositories and the referrers of a digest, read through indexes keyed on a 64-bit
-- hash of the digest, as the log's index by digest is since migration 18.
--
-- `links_digest_repository (digest, registry, name)` and `content_references_referrers
-- (child, parent, kind)` (migration 5) each begin with a 71-character digest. The
-- projection inserts into them at random places (a new link, a new reference; the link's
-- entry again when an update cannot stay on its page), so at 10 M events, where the database
-- is as large as the machine's memory, they were the indexes read back most after the log's:
-- about 0.22 and 0.17 blocks per event (2026-12-07, `pg_statio_user_indexes`), and blocks
-- read back were the projectors' main wait.
--
-- Keyed on `hashtextextended(digest, 0)` instead, each entry is 63 bytes shorter. The
-- columns a page is ordered by stay in the key after it, so that a page is still one range
-- of the index read in order and stopped at the page's end under any plan (the lesson of
-- migration 18's first version). A read names the hash and the digest itself (`lib.rs`), so
-- entries of another digest with the same hash are dropped when the row is read.
CREATE INDEX links_digest_hash ON links (hashtextextended(digest, 0), registry, name);
DROP INDEX links_digest_repository;

CREATE INDEX content_references_referrers_hash ON content_references (hashtextextended(child, 0), parent, kind);
DROP INDEX content_references_referrers;
