-- Erasure jobs (application/src/erasure.rs): who is erased, in which organization (NULL: a
-- person's own erasure, everywhere), progress counts and status; resumed by the sweeper.
CREATE TABLE erasures (
    id TEXT PRIMARY KEY NOT NULL,
    principal TEXT NOT NULL,
    org_id TEXT,
    requested_by TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'blocked')),
    counts TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    -- Saved after every batch: a running erasure not saved for a while lost its runner.
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX erasures_running ON erasures (principal) WHERE status = 'running';
