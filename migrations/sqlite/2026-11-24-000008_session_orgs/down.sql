DROP INDEX sessions_org;
ALTER TABLE sessions DROP COLUMN org_id;
