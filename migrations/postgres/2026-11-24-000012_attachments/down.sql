DROP TABLE message_files;
ALTER TABLE messages DROP COLUMN attachments;
