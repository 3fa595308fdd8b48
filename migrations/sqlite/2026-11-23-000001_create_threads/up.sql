-- Threads, messages (a tree through parent_id) and summaries, with FTS5 indexes for search.
-- Timestamps are UTC text in a fixed-width RFC 3339 form, so text order is time order.
-- `seq` is an integer rowid alias: FTS5 external-content tables key on it, and unlike an
-- implicit rowid it survives VACUUM.

CREATE TABLE threads (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    org_id TEXT,
    title TEXT NOT NULL DEFAULT '',
    product TEXT,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    document_id TEXT,
    external_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    system_prompt TEXT,
    model TEXT,
    active_leaf_id TEXT,
    forked_from_thread_id TEXT,
    forked_from_message_id TEXT,
    message_count BIGINT NOT NULL DEFAULT 0,
    last_message_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT,
    expires_at TEXT
);

CREATE UNIQUE INDEX threads_owner_external_id ON threads (owner, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX threads_owner_updated ON threads (owner, updated_at DESC, id DESC);
CREATE INDEX threads_owner_org ON threads (owner, org_id);
CREATE INDEX threads_owner_product ON threads (owner, product);
CREATE INDEX threads_owner_document ON threads (owner, document_id);
CREATE INDEX threads_expires ON threads (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    parent_id TEXT REFERENCES messages (id) ON DELETE CASCADE,
    depth INTEGER NOT NULL CHECK (depth >= 0),
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content TEXT NOT NULL,
    content_type TEXT NOT NULL DEFAULT 'text' CHECK (content_type IN ('text', 'json', 'image', 'file')),
    display_text TEXT,
    status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'streaming', 'cancelled', 'failed')),
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    feedback_rating TEXT CHECK (feedback_rating IN ('up', 'down')),
    feedback_text TEXT,
    reaction TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    edited_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);

CREATE INDEX messages_thread_created ON messages (thread_id, created_at, id);
CREATE INDEX messages_parent ON messages (parent_id);

CREATE TABLE summaries (
    id TEXT PRIMARY KEY NOT NULL,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    covers_message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    model TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX summaries_thread_created ON summaries (thread_id, created_at DESC);

CREATE VIRTUAL TABLE threads_fts USING fts5 (
    title, content = 'threads', content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER threads_fts_insert AFTER INSERT ON threads BEGIN
    INSERT INTO threads_fts (rowid, title) VALUES (new.seq, new.title);
END;
CREATE TRIGGER threads_fts_delete AFTER DELETE ON threads BEGIN
    INSERT INTO threads_fts (threads_fts, rowid, title) VALUES ('delete', old.seq, old.title);
END;
CREATE TRIGGER threads_fts_update AFTER UPDATE OF title ON threads BEGIN
    INSERT INTO threads_fts (threads_fts, rowid, title) VALUES ('delete', old.seq, old.title);
    INSERT INTO threads_fts (rowid, title) VALUES (new.seq, new.title);
END;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content, content = 'messages', content_rowid = 'seq', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;
