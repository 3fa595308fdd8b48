-- FTS5's defaults: merging inside the commits again.
INSERT INTO threads_fts (threads_fts, rank) VALUES ('crisismerge', 16);
INSERT INTO threads_fts (threads_fts, rank) VALUES ('automerge', 4);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('crisismerge', 16);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 4);
