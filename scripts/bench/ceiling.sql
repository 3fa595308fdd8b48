-- The raw SQL ceiling of scripts/bench-http.sh: a table like `messages` (uuid ids, a parent,
-- content, a timestamp, the thread's index) and a thread row touched by every append.
DROP TABLE IF EXISTS bench_messages;
DROP TABLE IF EXISTS bench_threads;
CREATE TABLE bench_threads (n INT PRIMARY KEY, id UUID NOT NULL, message_count INT NOT NULL,
                            updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE bench_messages (id UUID PRIMARY KEY, thread_n INT NOT NULL, parent_id UUID,
                             content TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL);
CREATE INDEX bench_messages_thread ON bench_messages (thread_n, created_at);
INSERT INTO bench_threads SELECT n, gen_random_uuid(), 50, now() FROM generate_series(1, :threads) n;
INSERT INTO bench_messages
  SELECT gen_random_uuid(), n, NULL, 'message ' || m || ' of thread ' || n || ': some words to index',
         now() + m * interval '1 ms'
  FROM generate_series(1, :threads) n, generate_series(1, :messages) m;
ANALYZE bench_threads; ANALYZE bench_messages;
