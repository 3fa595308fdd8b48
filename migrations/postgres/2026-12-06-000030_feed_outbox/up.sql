-- Change feed entries written in the transaction of the change they report (issue 27).
--
-- A write transaction cannot take a cursor itself: cursors must follow commit order across
-- every instance, and holding the feed's cluster-wide lock from the insert to the commit would
-- serialize every write's commit. So a change's transaction adds its entries to `feed_outbox`
-- (an ordinary insert, no lock), and `ct_append_feed` — run by each instance's feed writer,
-- under the feed's advisory lock — first moves whatever the outbox holds into `feed_events`, in
-- the order the outbox received it, then appends the entries it was given. An entry is durable
-- the moment its change commits; it gets its cursor (and readers see it) when it is moved.
CREATE TABLE feed_outbox (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    thread_id UUID NOT NULL,
    owner TEXT NOT NULL,
    org_id TEXT,
    product TEXT,
    kind TEXT NOT NULL,
    reply_id UUID,
    data TEXT NOT NULL
);

-- The outbox churns (every row is inserted and soon deleted): the feed writer vacuums it
-- itself every few thousand rows, and autovacuum (when on) is told to look at it often.
ALTER TABLE feed_outbox SET (autovacuum_vacuum_threshold = 1000,
                             autovacuum_vacuum_scale_factor = 0);

-- Moves the outbox, then appends `entries` (a JSON array of {at, thread_id, kind, reply_id,
-- data}; entries whose thread is gone are skipped), all under the advisory lock that keeps
-- cursors in commit order; wakes other instances' readers when anything was stored. Returns how
-- many entries were stored. Index scans only: the outbox's heap is mostly dead rows between
-- vacuums, and its statistics may be stale.
CREATE OR REPLACE FUNCTION ct_append_feed(entries jsonb) RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    first_id bigint;
    moved integer := 0;
    stored integer;
BEGIN
    PERFORM pg_advisory_xact_lock(109351585277284);
    SELECT min(id) INTO first_id FROM feed_outbox;
    IF first_id IS NOT NULL THEN
        WITH gone AS (
            DELETE FROM feed_outbox WHERE id >= first_id
            RETURNING id, at, thread_id, owner, org_id, product, kind, reply_id, data)
        INSERT INTO feed_events (at, thread_id, owner, org_id, product, kind, reply_id, data)
        SELECT at, thread_id, owner, org_id, product, kind, reply_id, data FROM gone ORDER BY id;
        GET DIAGNOSTICS moved = ROW_COUNT;
    END IF;
    INSERT INTO feed_events (at, thread_id, owner, org_id, product, kind, reply_id, data)
    SELECT (x.e->>'at')::timestamptz, t.id, t.owner, t.org_id, t.product, x.e->>'kind',
           (x.e->>'reply_id')::uuid, x.e->>'data'
    FROM jsonb_array_elements(entries) WITH ORDINALITY AS x(e, n)
    JOIN threads t ON t.id = (x.e->>'thread_id')::uuid
    ORDER BY x.n;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF moved + stored > 0 THEN
        PERFORM pg_notify('chat_threads_events', '{"feed":1}');
    END IF;
    RETURN moved + stored;
END
$$;

-- Moves the outbox when it holds anything (the lock is taken only then): what a reader runs
-- before reading, so a change it was told about is in what it reads.
CREATE FUNCTION ct_settle_feed() RETURNS integer
LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM feed_outbox WHERE id > 0) THEN
        RETURN 0;
    END IF;
    RETURN ct_append_feed('[]'::jsonb);
END
$$;

-- The one-statement append (migration 000013, authors since 000020) now also writes the
-- message's `message.created` entry to the outbox, in its transaction. `p_feed` is the entry's
-- data as the service serializes it for a message with no parent at depth 0; the parent and
-- depth the statement chose replace those two fields (the first `"parent_id":null,"depth":0`
-- of the text: the message's own, which come before anything a client wrote). NULL: no entry.
DROP FUNCTION ct_append_message(UUID, TEXT, UUID, UUID, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INTEGER, INTEGER, JSONB, TIMESTAMPTZ, INTEGER, JSONB, TEXT, TEXT);
CREATE FUNCTION ct_append_message(
    p_thread UUID, p_owner TEXT, p_parent UUID, p_id UUID, p_role TEXT, p_content TEXT,
    p_content_type TEXT, p_display_text TEXT, p_status TEXT, p_model TEXT,
    p_prompt_tokens INTEGER, p_completion_tokens INTEGER, p_metadata JSONB,
    p_created_at TIMESTAMPTZ, p_version INTEGER, p_attachments JSONB,
    p_author TEXT, p_author_name TEXT, p_feed TEXT DEFAULT NULL)
RETURNS TABLE (parent_id UUID, depth INTEGER)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_leaf UUID;
    v_org TEXT;
    v_product TEXT;
    v_parent UUID;
    v_depth INTEGER := 0;
    v_at INTEGER;
    v_data TEXT;
BEGIN
    SELECT t.active_leaf_id, t.org_id, t.product INTO v_leaf, v_org, v_product FROM threads t
     WHERE t.id = p_thread AND t.owner = p_owner AND t.deleted_at IS NULL
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_parent := COALESCE(p_parent, v_leaf);
    IF v_parent IS NOT NULL THEN
        SELECT m.depth + 1 INTO v_depth FROM messages m
         WHERE m.id = v_parent AND m.thread_id = p_thread AND m.deleted_at IS NULL;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    INSERT INTO messages (id, thread_id, parent_id, depth, role, content, content_type,
                          display_text, status, model, prompt_tokens, completion_tokens,
                          metadata, created_at, updated_at, version, attachments,
                          author, author_name)
    VALUES (p_id, p_thread, v_parent, v_depth, p_role, p_content, p_content_type,
            p_display_text, p_status, p_model, p_prompt_tokens, p_completion_tokens,
            p_metadata, p_created_at, p_created_at, p_version, p_attachments,
            p_author, p_author_name);
    UPDATE threads SET active_leaf_id = p_id, message_count = message_count + 1,
                       last_message_at = p_created_at, updated_at = p_created_at
     WHERE id = p_thread;
    IF p_feed IS NOT NULL THEN
        v_data := p_feed;
        IF v_parent IS NOT NULL THEN
            v_at := strpos(v_data, '"parent_id":null,"depth":0');
            IF v_at = 0 THEN
                RAISE EXCEPTION 'ct_append_message: the feed entry has no "parent_id":null,"depth":0';
            END IF;
            v_data := overlay(v_data PLACING format('"parent_id":"%s","depth":%s', v_parent, v_depth)
                              FROM v_at FOR 26);
        END IF;
        INSERT INTO feed_outbox (at, thread_id, owner, org_id, product, kind, reply_id, data)
        VALUES (p_created_at, p_thread, p_owner, v_org, v_product, 'message.created', NULL, v_data);
    END IF;
    parent_id := v_parent;
    depth := v_depth;
    RETURN NEXT;
END
$$;
