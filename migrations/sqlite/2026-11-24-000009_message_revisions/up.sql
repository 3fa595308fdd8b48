-- In-place edits keep their earlier versions; a message can be deleted alone, leaving a
-- tombstone (content gone, children attached).
ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN tombstoned_at TEXT;
CREATE TABLE message_revisions (
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    content_type TEXT NOT NULL,
    display_text TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    written_at TEXT NOT NULL,
    replaced_at TEXT NOT NULL,
    PRIMARY KEY (message_id, version)
);
