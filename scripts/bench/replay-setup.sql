-- The replay ceiling of scripts/bench-http.sh, set up on the service's own database after the
-- preload (psql -v owner=...): the service's preloaded threads numbered 1..THREADS, so pgbench
-- can pick one at random, and a generator of the time-ordered (v7) UUIDs the service gives new
-- messages (MessageId::new), so a replayed insert lands in the messages primary key where the
-- service's would (the right edge), not at random as gen_random_uuid() would.
DROP TABLE IF EXISTS bench_ids;
CREATE TABLE bench_ids (n SERIAL PRIMARY KEY, id UUID NOT NULL);
INSERT INTO bench_ids (id) SELECT id FROM threads WHERE owner = :'owner' ORDER BY seq;
ANALYZE bench_ids;
CREATE OR REPLACE FUNCTION bench_uuid_v7() RETURNS UUID LANGUAGE sql VOLATILE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
               PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
               FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
