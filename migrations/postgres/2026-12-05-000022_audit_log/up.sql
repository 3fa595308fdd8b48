-- The audit log: an append-only record of security-relevant actions (application/src/audit.rs).
-- Entries are never changed (the trigger refuses any UPDATE); only the log's own retention
-- deletes old ones.
CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    org_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    thread_id UUID,
    request_id TEXT,
    details JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_org ON audit_log (org_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE FUNCTION ct_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION ct_audit_append_only();
