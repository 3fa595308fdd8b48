ALTER TABLE threads RESET (fillfactor);
CREATE INDEX threads_owner_updated ON threads (owner, updated_at DESC, id DESC);
DROP TRIGGER threads_activity_update ON threads;
DROP TRIGGER threads_activity_insert ON threads;
DROP FUNCTION ct_thread_activity();
DROP TABLE thread_activity;
