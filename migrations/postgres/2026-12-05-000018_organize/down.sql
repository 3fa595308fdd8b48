DROP TRIGGER threads_activity_update ON threads;
CREATE OR REPLACE FUNCTION ct_thread_activity() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER threads_activity_update AFTER UPDATE OF owner, updated_at ON threads
    FOR EACH ROW
    WHEN (NEW.updated_at IS DISTINCT FROM OLD.updated_at OR NEW.owner IS DISTINCT FROM OLD.owner)
    EXECUTE FUNCTION ct_thread_activity();
DROP INDEX thread_activity_owner_updated;
ALTER TABLE thread_activity DROP COLUMN pinned;
CREATE INDEX thread_activity_owner_updated
    ON thread_activity (owner, updated_at DESC, thread_id DESC);

DROP TABLE thread_tags;
DROP INDEX threads_owner_email;
DROP INDEX threads_folder;
ALTER TABLE threads DROP COLUMN tags;
ALTER TABLE threads DROP COLUMN creator_email;
ALTER TABLE threads DROP COLUMN temporary;
ALTER TABLE threads DROP COLUMN pinned;
ALTER TABLE threads DROP COLUMN folder_id;
DROP TABLE folders;
