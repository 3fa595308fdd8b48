-- Files attached to messages: a copy of what a reader needs on the message itself (read with it,
-- no join), and one row per reference, which keeps a file from garbage collection.
ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
CREATE TABLE message_files (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    file_id TEXT NOT NULL,
    PRIMARY KEY (message_id, file_id)
);
CREATE INDEX message_files_file ON message_files (file_id);
