-- Uploaded files: metadata, their bytes as numbered parts (when stored in the database), and
-- the bytes each owner's files take (the quota counter).
CREATE TABLE files (
    id UUID PRIMARY KEY,
    owner TEXT NOT NULL,
    org_id TEXT,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    parts INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX files_owner ON files (owner, created_at DESC, id DESC);
CREATE TABLE file_parts (
    file_id UUID NOT NULL,
    part INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (file_id, part)
);
CREATE TABLE file_usage (
    owner TEXT PRIMARY KEY,
    bytes BIGINT NOT NULL
);
