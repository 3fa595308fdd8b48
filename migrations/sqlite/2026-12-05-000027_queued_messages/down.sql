DROP INDEX messages_queued;
ALTER TABLE messages DROP COLUMN queued_at;
