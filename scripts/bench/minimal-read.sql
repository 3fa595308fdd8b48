-- Minimal ceiling, read (scripts/bench-http.sh): the owner's check on the thread and its last 51
-- messages (a page of 50 and one more, as the service reads), newest first, by the
-- (thread_id, id) index — one statement.
\set t random(1, :threads)
SELECT m.id, m.thread_id, m.role, m.content, m.metadata, m.created_at
  FROM mini_messages m
 WHERE m.thread_id = (SELECT id FROM mini_threads WHERE id = :t AND owner = :owner)
 ORDER BY m.id DESC LIMIT 51;
