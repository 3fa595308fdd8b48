-- Members of a thread: principals the owner let in, as viewers (read, follow live events) or
-- editors (also write). Removing the row takes the access away at once: each request looks the
-- membership up. A thread's members go with it.
CREATE TABLE thread_members (
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    principal TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')),
    added_at TEXT NOT NULL,
    PRIMARY KEY (thread_id, principal)
);
-- "Threads shared with me".
CREATE INDEX thread_members_principal ON thread_members (principal, thread_id);

-- Who wrote each message: the principal whose request stored it and the name it showed
-- (NULL for a model's reply and for messages stored before authors were recorded).
ALTER TABLE messages ADD COLUMN author TEXT;
ALTER TABLE messages ADD COLUMN author_name TEXT;
