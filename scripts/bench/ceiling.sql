-- The raw SQL ceiling of scripts/bench-http.sh, on tables shaped exactly like the service's own
-- (LIKE ... INCLUDING ALL: the same columns, defaults, generated search columns and indexes; no
-- foreign keys), so pgbench does the database work a request does, without the service around
-- it. Run on the benchmark's database after the service has migrated it.
DROP TABLE IF EXISTS bench_messages;
DROP TABLE IF EXISTS bench_threads;
CREATE TABLE bench_threads (LIKE threads INCLUDING ALL);
ALTER TABLE bench_threads ADD COLUMN n INT UNIQUE;
CREATE TABLE bench_messages (LIKE messages INCLUDING ALL);
INSERT INTO bench_threads (id, owner, n, message_count, created_at, updated_at)
  SELECT gen_random_uuid(), 'bench', n, :messages, now(), now() FROM generate_series(1, :threads) n;
INSERT INTO bench_messages (id, thread_id, depth, role, content, created_at, updated_at)
  SELECT gen_random_uuid(), t.id, m - 1, 'user',
         'message ' || m || ' of thread ' || t.n || ': some words to index',
         now() + m * interval '1 ms', now() + m * interval '1 ms'
  FROM bench_threads t, generate_series(1, :messages) m;
ANALYZE bench_threads; ANALYZE bench_messages;
