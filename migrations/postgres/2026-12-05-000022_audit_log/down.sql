DROP TABLE audit_log;
DROP FUNCTION ct_audit_append_only();
