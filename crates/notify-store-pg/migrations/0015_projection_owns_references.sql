-- The projection keeps its own references; the database no longer checks each one.
--
-- Links, tags, tag history and repository actors point at a repository, and content
-- references at the manifest that holds them. Only `project_commands` writes those rows, and
-- it upserts the repository or the content first, in the same transaction; repositories and
-- content are never deleted (retention prunes the log, not the projection). The foreign keys
-- could therefore never fail, but each inserted row paid for one: an after-row trigger, a
-- query through SPI, an index probe and a row lock on the repository. With the registry-like
-- mix that was 1.8 checks per event.

ALTER TABLE links DROP CONSTRAINT links_repo_id_fkey;
ALTER TABLE tags DROP CONSTRAINT tags_repo_id_fkey;
ALTER TABLE tag_history DROP CONSTRAINT tag_history_repo_id_fkey;
ALTER TABLE repository_actors DROP CONSTRAINT repository_actors_repo_id_fkey;
ALTER TABLE content_references DROP CONSTRAINT content_references_parent_fkey;
