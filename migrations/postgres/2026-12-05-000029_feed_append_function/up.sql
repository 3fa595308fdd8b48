-- The change feed's batch append in one statement (infrastructure/src/db/feed.rs): the advisory
-- lock that keeps cursors in commit order, the threads' owner / organization / product, every
-- entry of the batch in order, and the notification that wakes other instances' readers — one
-- round trip and one commit per batch instead of a transaction of 4 + N statements.
-- `entries` is a JSON array of {at, thread_id, kind, reply_id, data}; entries whose thread is
-- gone are skipped. Returns how many were stored.
CREATE FUNCTION ct_append_feed(entries jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    stored integer;
BEGIN
    PERFORM pg_advisory_xact_lock(109351585277284);
    INSERT INTO feed_events (at, thread_id, owner, org_id, product, kind, reply_id, data)
    SELECT (x.e->>'at')::timestamptz, t.id, t.owner, t.org_id, t.product, x.e->>'kind',
           (x.e->>'reply_id')::uuid, x.e->>'data'
    FROM jsonb_array_elements(entries) WITH ORDINALITY AS x(e, n)
    JOIN threads t ON t.id = (x.e->>'thread_id')::uuid
    ORDER BY x.n;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored > 0 THEN
        PERFORM pg_notify('chat_threads_events', '{"feed":1}');
    END IF;
    RETURN stored;
END
$$;
