-- Organizing threads: folders (one per thread; a folder's system prompt and model are the
-- defaults of its threads), tags (many per thread, named per owner), pins (pinned threads list
-- first), temporary threads (hidden from lists, search and exports; purged at expires_at) and
-- the creator's e-mail (from the token).
CREATE TABLE folders (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    system_prompt TEXT,
    model TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX folders_owner_name ON folders (owner, name);

-- No REFERENCES here: SQLite cannot drop a foreign-key column; deleting a folder clears it.
ALTER TABLE threads ADD COLUMN folder_id TEXT;
ALTER TABLE threads ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE threads ADD COLUMN temporary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE threads ADD COLUMN creator_email TEXT;
-- The thread's tags as read (a JSON array); thread_tags holds them for filters and counts.
ALTER TABLE threads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
CREATE INDEX threads_folder ON threads (folder_id) WHERE folder_id IS NOT NULL;
CREATE INDEX threads_owner_email ON threads (owner, creator_email) WHERE creator_email IS NOT NULL;

CREATE TABLE thread_tags (
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (thread_id, tag)
);
CREATE INDEX thread_tags_owner_tag ON thread_tags (owner, tag);

-- The list order is (pinned, updated_at, id), newest first, pinned threads before the rest.
DROP VIEW thread_activity;
CREATE VIEW thread_activity AS
    SELECT id AS thread_id, owner, updated_at, pinned FROM threads;
DROP INDEX threads_owner_updated;
CREATE INDEX threads_owner_updated ON threads (owner, pinned DESC, updated_at DESC, id DESC);
