DROP INDEX threads_owner_updated;
CREATE INDEX threads_owner_updated ON threads (owner, updated_at DESC, id DESC);
DROP VIEW thread_activity;
CREATE VIEW thread_activity AS
    SELECT id AS thread_id, owner, updated_at FROM threads;

DROP TABLE thread_tags;
DROP INDEX threads_owner_email;
DROP INDEX threads_folder;
ALTER TABLE threads DROP COLUMN tags;
ALTER TABLE threads DROP COLUMN creator_email;
ALTER TABLE threads DROP COLUMN temporary;
ALTER TABLE threads DROP COLUMN pinned;
ALTER TABLE threads DROP COLUMN folder_id;
DROP TABLE folders;
