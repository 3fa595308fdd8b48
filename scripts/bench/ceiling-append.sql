\set t random(1, :threads)
BEGIN;
INSERT INTO bench_messages (id, thread_id, depth, role, content, created_at, updated_at)
  SELECT gen_random_uuid(), id, 0, 'user', 'a short message from the benchmark', now(), now()
    FROM bench_threads WHERE n = :t AND owner = 'bench' AND deleted_at IS NULL;
UPDATE bench_threads SET message_count = message_count + 1, last_message_at = now(),
                         updated_at = now()
 WHERE n = :t;
END;
