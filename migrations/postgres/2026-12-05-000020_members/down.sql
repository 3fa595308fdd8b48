DROP FUNCTION ct_append_message(UUID, TEXT, UUID, UUID, TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, INTEGER, INTEGER, JSONB, TIMESTAMPTZ, INTEGER, JSONB, TEXT, TEXT);
-- An append in one round trip (PostgreSQL only; SQLite runs the same steps in its writer).
-- In one statement: lock the owner's live thread, find the parent (the one asked for, or the
-- active leaf), insert the message under it and make it the thread's active leaf. Returns the
-- parent and depth it used, or no row when any step does not hold (unknown thread, a parent
-- that is missing, deleted or in another thread); nothing is written then and the caller runs
-- the general path, which names the reason. Each statement inside takes a fresh snapshot, so
-- an append that waited for the thread's lock sees the message that was appended meanwhile.
CREATE FUNCTION ct_append_message(
    p_thread UUID, p_owner TEXT, p_parent UUID, p_id UUID, p_role TEXT, p_content TEXT,
    p_content_type TEXT, p_display_text TEXT, p_status TEXT, p_model TEXT,
    p_prompt_tokens INTEGER, p_completion_tokens INTEGER, p_metadata JSONB,
    p_created_at TIMESTAMPTZ, p_version INTEGER, p_attachments JSONB)
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
                          metadata, created_at, updated_at, version, attachments)
    VALUES (p_id, p_thread, v_parent, v_depth, p_role, p_content, p_content_type,
            p_display_text, p_status, p_model, p_prompt_tokens, p_completion_tokens,
            p_metadata, p_created_at, p_created_at, p_version, p_attachments);
    UPDATE threads SET active_leaf_id = p_id, message_count = message_count + 1,
                       last_message_at = p_created_at, updated_at = p_created_at
     WHERE id = p_thread;
    parent_id := v_parent;
    depth := v_depth;
    RETURN NEXT;
END
$$;
ALTER TABLE messages DROP COLUMN author_name;
ALTER TABLE messages DROP COLUMN author;
DROP TABLE thread_members;
