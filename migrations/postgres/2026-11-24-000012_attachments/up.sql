-- Files attached to messages: a copy of what a reader needs on the message itself (read with it,
-- no join), and one row per reference, which keeps a file from garbage collection.
ALTER TABLE messages ADD COLUMN attachments JSONB NOT NULL DEFAULT '[]';
CREATE TABLE message_files (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    file_id UUID NOT NULL,
    PRIMARY KEY (message_id, file_id)
);
CREATE INDEX message_files_file ON message_files (file_id);
