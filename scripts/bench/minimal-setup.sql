-- The minimal ceiling of scripts/bench-http.sh (psql -v owner=... -v threads=... -v messages=...):
-- the smallest schema that stores a thread's messages and serves its last page — two tables, a
-- primary key each and one index for the page, no foreign key, no search column, no tree.
-- scripts/bench-http.sh then loads mini_messages with the service's preload (same sizes).
DROP TABLE IF EXISTS mini_messages;
DROP TABLE IF EXISTS mini_threads;
CREATE TABLE mini_threads (
    id BIGINT PRIMARY KEY,
    owner TEXT NOT NULL,
    message_count INT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE mini_messages (
    id BIGSERIAL PRIMARY KEY,
    thread_id BIGINT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mini_messages_thread ON mini_messages (thread_id, id);
INSERT INTO mini_threads (id, owner, message_count, updated_at)
    SELECT n, :'owner', :messages, now() FROM generate_series(1, :threads) n;
