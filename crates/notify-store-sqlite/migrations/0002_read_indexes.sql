-- The secondary indexes the reads need. Migration 1 holds only the keys the writes depend on;
-- these are built over whatever rows a file already has.

-- The log is read newest first, (at, id) descending, always; one index per filter that
-- narrows it a lot, each ending in (at, id) so that a page is a backward range scan.
CREATE INDEX events_at ON events (at, id);
CREATE INDEX events_repository ON events (repository, registry, at, id);
CREATE INDEX events_digest ON events (digest, at, id) WHERE digest IS NOT NULL;
CREATE INDEX events_actor ON events (actor, at, id) WHERE actor IS NOT NULL;
CREATE INDEX events_client_ip ON events (client_ip, at, id) WHERE client_ip IS NOT NULL;

-- Prefix search across registries: a range on the name. (Within one registry the unique
-- (registry, name) key serves.) Substring search scans the table with instr().
CREATE INDEX repositories_name ON repositories (name);

-- Where a digest lives, and which tags point at it.
CREATE INDEX links_digest ON links (digest);
CREATE INDEX tags_digest ON tags (repo_id, digest) WHERE digest IS NOT NULL;

-- What references a digest.
CREATE INDEX content_references_child ON content_references (child, parent, kind);

-- The quarantine, newest first.
CREATE INDEX quarantine_received ON quarantine (received_at, key);
