-- Appends touch their thread without rewriting its indexes (HOT updates).
--
-- Every append sets the thread's active leaf, message count, last_message_at and updated_at.
-- `updated_at` was in an index (threads_owner_updated, the thread list's order), so no such
-- update could be HOT: each one added an entry to all eight indexes of `threads` (the GIN
-- title index among them) and left a dead tuple behind in each — 240,000 appends to 1,000
-- threads left 240,000 dead tuples and 30 MB of indexes. The list's order now lives in a
-- narrow table with two indexes, kept by trigger; `threads` has no index on a column an
-- append changes, and pages with room (fillfactor 80) for the new version of a row, so an
-- append's update of its thread is HOT: no index entry, and the old version is pruned with
-- the page. The thread row keeps `updated_at` as before; reads are unchanged but the list.

CREATE TABLE thread_activity (
    thread_id UUID PRIMARY KEY REFERENCES threads (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

INSERT INTO thread_activity (thread_id, owner, updated_at)
    SELECT id, owner, updated_at FROM threads;

CREATE INDEX thread_activity_owner_updated
    ON thread_activity (owner, updated_at DESC, thread_id DESC);

CREATE FUNCTION ct_thread_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO thread_activity (thread_id, owner, updated_at)
        VALUES (NEW.id, NEW.owner, NEW.updated_at);
    ELSE
        UPDATE thread_activity SET owner = NEW.owner, updated_at = NEW.updated_at
         WHERE thread_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER threads_activity_insert AFTER INSERT ON threads
    FOR EACH ROW EXECUTE FUNCTION ct_thread_activity();
CREATE TRIGGER threads_activity_update AFTER UPDATE OF owner, updated_at ON threads
    FOR EACH ROW
    WHEN (NEW.updated_at IS DISTINCT FROM OLD.updated_at OR NEW.owner IS DISTINCT FROM OLD.owner)
    EXECUTE FUNCTION ct_thread_activity();

DROP INDEX threads_owner_updated;

-- Room in each page for the next version of its rows (applies to pages written from now on).
ALTER TABLE threads SET (fillfactor = 80);
