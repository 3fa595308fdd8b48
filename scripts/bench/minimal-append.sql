-- Minimal ceiling, append (scripts/bench-http.sh): touch the owner's thread and insert the
-- message (~300 bytes, the benchmark's metadata) under it — one statement, so one round trip
-- and one transaction, like the service's append.
\set t random(1, :threads)
WITH t AS (
    UPDATE mini_threads SET message_count = message_count + 1, updated_at = now()
     WHERE id = :t AND owner = :owner RETURNING id)
INSERT INTO mini_messages (thread_id, role, content, metadata, created_at)
    SELECT id, (:role)::text, (:content)::text, (:metadata)::jsonb, now() FROM t;
