-- Back to feed entries written after their change (migration 000029) and the append of 000020.
DROP FUNCTION ct_settle_feed();
DROP FUNCTION ct_append_message(UUID, TEXT, UUID, UUID, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INTEGER, INTEGER, JSONB, TIMESTAMPTZ, INTEGER, JSONB, TEXT, TEXT, TEXT);
CREATE FUNCTION ct_append_message(
    p_thread UUID, p_owner TEXT, p_parent UUID, p_id UUID, p_role TEXT, p_content TEXT,
    p_content_type TEXT, p_display_text TEXT, p_status TEXT, p_model TEXT,
    p_prompt_tokens INTEGER, p_completion_tokens INTEGER, p_metadata JSONB,
    p_created_at TIMESTAMPTZ, p_version INTEGER, p_attachments JSONB,
    p_author TEXT, p_author_name TEXT)
RETURNS TABLE (parent_id UUID, depth INTEGER)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_leaf UUID;
    v_parent UUID;
    v_depth INTEGER := 0;
BEGIN
    SELECT t.active_leaf_id INTO v_leaf FROM threads t
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
    parent_id := v_parent;
    depth := v_depth;
    RETURN NEXT;
END
$$;
DROP FUNCTION ct_append_feed(jsonb);
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
DROP TABLE feed_outbox;
