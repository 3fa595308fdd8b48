DROP INDEX threads_deleted;
DROP INDEX messages_deleted;
DROP INDEX messages_tombstoned;
ALTER TABLE messages DROP COLUMN erased_at;
