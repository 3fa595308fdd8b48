-- The full-text indexes stop merging their segments inside the commits that write them.
--
-- FTS5 adds a segment to its index at every commit that changes it and, with `automerge`
-- (4 by default), merges segments as it goes: every 64 leaf pages written, the commit that
-- crosses the mark merges 64 pages per level of the index — a burst of tens of milliseconds
-- inside one write batch, which every append of that batch (and, since the writer runs on an
-- HTTP worker, every request on that worker) waits for. With `automerge = 0` the commits only
-- add segments; the writer merges them in small steps of its own between batches (the
-- background turn in crates/infrastructure/src/db/writer.rs, a few milliseconds at most per
-- turn). `crisismerge` (16 by default) is how many segments one level may hold before a commit
-- merges them all at once: raised so that the segments written between two turns never reach
-- it, and it stays only a backstop should the turns fall behind.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('crisismerge', 64);
INSERT INTO threads_fts (threads_fts, rank) VALUES ('automerge', 0);
INSERT INTO threads_fts (threads_fts, rank) VALUES ('crisismerge', 64);
