-- Which instance is writing each streaming reply, so that a reply whose instance died (kill -9,
-- a crash) is released at once instead of blocking its thread until it looks stale. An instance
-- is alive while one of its connections (application_name 'ct:<instance>') is open.
CREATE TABLE reply_owners (
    message_id UUID PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    thread_id UUID NOT NULL,
    instance TEXT NOT NULL
);
CREATE INDEX reply_owners_thread ON reply_owners (thread_id);
