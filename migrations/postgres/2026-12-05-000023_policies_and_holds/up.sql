-- Retention policies per organization ('' = every product without its own policy) and legal
-- holds (a thread, or a principal's threads in the organization), managed by org admins and
-- service principals (application/src/retention/policies.rs).
CREATE TABLE retention_policies (
    org_id TEXT NOT NULL,
    product TEXT NOT NULL DEFAULT '',
    delete_inactive_days INTEGER,
    erase_deleted_days INTEGER,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (org_id, product)
);
CREATE TABLE legal_holds (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    thread_id UUID REFERENCES threads (id) ON DELETE CASCADE,
    principal TEXT,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    CHECK ((thread_id IS NULL) <> (principal IS NULL))
);
CREATE INDEX legal_holds_org ON legal_holds (org_id, created_at);
CREATE INDEX legal_holds_thread ON legal_holds (thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX legal_holds_principal ON legal_holds (principal, org_id) WHERE principal IS NOT NULL;
