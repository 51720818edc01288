-- A tag's history read from its index alone: the primary key carries the digest and actor.
--
-- A page of a repository's tags at an instant (`tags_at`) takes, for each tag in order, the
-- newest history entry at or before the instant; a history page takes each entry and the
-- one before it. The key `(repo_id, tag, at, event_id)` keeps one repository's entries
-- together, but the rows were inserted over months among every other repository's, so
-- each entry read was one more random page of the table: with a cold cache, a repository of
-- 308 tags read 164 blocks for its page, 156 ms of a slow disk (10 M events, 2026-12-07).
-- With the digest and actor in the index, an entry on an all-visible page (the table is
-- only ever inserted into, and vacuumed for it) is read from the index's leaf, where the
-- repository's other entries are. A cold pass over the 5,000 repositories of that store,
-- both indexes freshly built, each twice: p99 0.98–1.20 ms and at worst 14–16 ms
-- with them, 3.6–3.9 ms and 44–48 ms without. The index takes about twice the space
-- (162 MB against 85 MB freshly built at 10 M events), and only tag sets and deletes write
-- to it.
--
-- `ON CONFLICT (repo_id, tag, at, event_id)` of the projection still names this key: the
-- included columns are no part of it.
ALTER TABLE tag_history
    DROP CONSTRAINT tag_history_pkey,
    ADD CONSTRAINT tag_history_pkey PRIMARY KEY (repo_id, tag, at, event_id) INCLUDE (digest, actor);
