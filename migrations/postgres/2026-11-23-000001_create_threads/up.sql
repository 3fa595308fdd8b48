-- Threads, messages (a tree through parent_id) and summaries, with tsvector + GIN for search.
-- Kept in step with migrations/sqlite: same tables, columns and indexes.

CREATE TABLE threads (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id UUID PRIMARY KEY,
    owner TEXT NOT NULL,
    org_id TEXT,
    title TEXT NOT NULL DEFAULT '',
    product TEXT,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    document_id TEXT,
    external_id TEXT,
    metadata JSONB NOT NULL DEFAULT '{}',
    system_prompt TEXT,
    model TEXT,
    active_leaf_id UUID,
    forked_from_thread_id UUID,
    forked_from_message_id UUID,
    message_count BIGINT NOT NULL DEFAULT 0,
    last_message_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    title_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', title)) STORED
);

CREATE UNIQUE INDEX threads_owner_external_id ON threads (owner, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX threads_owner_updated ON threads (owner, updated_at DESC, id DESC);
CREATE INDEX threads_owner_org ON threads (owner, org_id);
CREATE INDEX threads_owner_product ON threads (owner, product);
CREATE INDEX threads_owner_document ON threads (owner, document_id);
CREATE INDEX threads_expires ON threads (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX threads_title_tsv ON threads USING GIN (title_tsv);

CREATE TABLE messages (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id UUID PRIMARY KEY,
    thread_id UUID NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    parent_id UUID REFERENCES messages (id) ON DELETE CASCADE,
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
    metadata JSONB NOT NULL DEFAULT '{}',
    edited_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
    content_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED
);

CREATE INDEX messages_thread_created ON messages (thread_id, created_at, id);
CREATE INDEX messages_parent ON messages (parent_id);
CREATE INDEX messages_content_tsv ON messages USING GIN (content_tsv);

CREATE TABLE summaries (
    id UUID PRIMARY KEY,
    thread_id UUID NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    covers_message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    model TEXT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX summaries_thread_created ON summaries (thread_id, created_at DESC);
