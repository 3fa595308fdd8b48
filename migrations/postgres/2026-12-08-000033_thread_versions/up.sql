-- A thread's row gets a new version whenever one of its messages does, so the version of that
-- one row (its `xmin`, the transaction that wrote it) tells whether anything a page of the
-- thread shows may have changed: the check before a kept page is answered
-- (crates/infrastructure/src/db/path_stamps.rs) reads one row instead of the page's window.
--
-- Appends, branch switches, deletes and restores of the thread already write its row (the
-- append function and every locked write update it). The triggers cover every other write of
-- a message — feedback, reactions, edits, a reply's text as it streams and when it ends,
-- tombstones, sweeps, erasures, retention — once per statement, for each thread the statement
-- touched: `revision` counts them. A thread row this transaction already wrote is not written
-- again (its `xmin` is this transaction's: no one has read that version yet).
ALTER TABLE threads ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION ct_messages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE threads t SET revision = t.revision + 1
     WHERE t.id IN (SELECT DISTINCT c.thread_id FROM changed c)
       AND t.xmin <> pg_current_xact_id()::xid;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_changed_update AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ct_messages_changed();
CREATE TRIGGER messages_changed_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION ct_messages_changed();
