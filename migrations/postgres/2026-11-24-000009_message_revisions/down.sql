DROP TABLE message_revisions;
ALTER TABLE messages DROP COLUMN tombstoned_at;
ALTER TABLE messages DROP COLUMN version;
