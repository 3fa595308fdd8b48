-- Sessions belong to an organization (the opener's, or auth.sessions.org), whose service
-- principals and admins list, read and delete them.
ALTER TABLE sessions ADD COLUMN org_id TEXT;
CREATE INDEX sessions_org ON sessions (org_id, created_at, id);
