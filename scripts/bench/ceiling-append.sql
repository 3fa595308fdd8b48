\set t random(1, :threads)
BEGIN;
INSERT INTO bench_messages (id, thread_n, parent_id, content, created_at)
  VALUES (gen_random_uuid(), :t, NULL, 'a short message from the benchmark', now());
UPDATE bench_threads SET message_count = message_count + 1, updated_at = now() WHERE n = :t;
END;
