\set t random(1, :threads)
SELECT id, parent_id, content, created_at FROM bench_messages WHERE thread_n = :t
  ORDER BY created_at DESC LIMIT 50;
