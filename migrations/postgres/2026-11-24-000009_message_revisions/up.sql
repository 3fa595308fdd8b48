-- In-place edits keep their earlier versions; a message can be deleted alone, leaving a
-- tombstone (content gone, children attached).
ALTER TABLE messages ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN tombstoned_at TIMESTAMPTZ;
CREATE TABLE message_revisions (
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    content_type TEXT NOT NULL,
    display_text TEXT,
    metadata JSONB NOT NULL DEFAULT '{}',
    written_at TIMESTAMPTZ NOT NULL,
    replaced_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, version)
);
