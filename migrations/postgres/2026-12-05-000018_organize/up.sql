-- Organizing threads: folders (one per thread; a folder's system prompt and model are the
-- defaults of its threads), tags (many per thread, named per owner), pins (pinned threads list
-- first), temporary threads (hidden from lists, search and exports; purged at expires_at) and
-- the creator's e-mail (from the token).
CREATE TABLE folders (
    id UUID PRIMARY KEY,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    system_prompt TEXT,
    model TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX folders_owner_name ON folders (owner, name);

ALTER TABLE threads ADD COLUMN folder_id UUID REFERENCES folders (id) ON DELETE SET NULL;
ALTER TABLE threads ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE threads ADD COLUMN temporary BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE threads ADD COLUMN creator_email TEXT;
-- The thread's tags as read (a JSON array); thread_tags holds them for filters and counts.
ALTER TABLE threads ADD COLUMN tags JSONB NOT NULL DEFAULT '[]';
CREATE INDEX threads_folder ON threads (folder_id) WHERE folder_id IS NOT NULL;
CREATE INDEX threads_owner_email ON threads (owner, creator_email) WHERE creator_email IS NOT NULL;

CREATE TABLE thread_tags (
    thread_id UUID NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (thread_id, tag)
);
CREATE INDEX thread_tags_owner_tag ON thread_tags (owner, tag);

-- The list order is (pinned, updated_at, id), newest first, pinned threads before the rest:
-- thread_activity keeps the pin beside updated_at (neither is indexed on `threads`, so appends
-- stay HOT updates).
ALTER TABLE thread_activity ADD COLUMN pinned BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX thread_activity_owner_updated;
CREATE INDEX thread_activity_owner_updated
    ON thread_activity (owner, pinned DESC, updated_at DESC, thread_id DESC);

CREATE OR REPLACE FUNCTION ct_thread_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO thread_activity (thread_id, owner, updated_at, pinned)
        VALUES (NEW.id, NEW.owner, NEW.updated_at, NEW.pinned);
    ELSE
        UPDATE thread_activity
           SET owner = NEW.owner, updated_at = NEW.updated_at, pinned = NEW.pinned
         WHERE thread_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER threads_activity_update ON threads;
CREATE TRIGGER threads_activity_update AFTER UPDATE OF owner, updated_at, pinned ON threads
    FOR EACH ROW
    WHEN (NEW.updated_at IS DISTINCT FROM OLD.updated_at OR NEW.owner IS DISTINCT FROM OLD.owner
          OR NEW.pinned IS DISTINCT FROM OLD.pinned)
    EXECUTE FUNCTION ct_thread_activity();
