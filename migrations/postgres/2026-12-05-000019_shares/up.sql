-- Share links: a read-only view of one branch of a thread, for the public, any signed-in
-- principal, or the owner's organization. A snapshot keeps the messages as they were when it was
-- made (or last refreshed); a live share reads the branch when it is opened. Revoking deletes
-- the row, so every instance refuses the link at once.
CREATE TABLE shares (
    id TEXT PRIMARY KEY,
    thread_id UUID NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    org_id TEXT,
    mode TEXT NOT NULL CHECK (mode IN ('snapshot', 'live')),
    audience TEXT NOT NULL CHECK (audience IN ('public', 'signed_in', 'org')),
    leaf_id UUID,
    display_name TEXT,
    title TEXT NOT NULL DEFAULT '',
    snapshot JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX shares_thread ON shares (thread_id, created_at);
