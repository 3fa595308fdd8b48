-- Which instance is writing each streaming reply, so that a reply whose instance died (kill -9,
-- a crash) is released at once instead of blocking its thread until it looks stale.
CREATE TABLE reply_owners (
    message_id TEXT PRIMARY KEY NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    thread_id TEXT NOT NULL,
    instance TEXT NOT NULL
);
CREATE INDEX reply_owners_thread ON reply_owners (thread_id);
