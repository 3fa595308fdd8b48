-- Replay ceiling, append (scripts/bench-http.sh): the one statement the service issues for a
-- plain append on PostgreSQL (PgAppendQuery, crates/infrastructure/src/db/tree_sql.rs), with the
-- same values: the owner's thread, no parent (the active leaf), a new v7 id, a user message of
-- ~300 bytes with the benchmark's metadata, status complete, version 1, no attachments, the
-- token's principal as the author (its token carries no name or e-mail), and the message's
-- change feed entry (~1 KB of JSON, scripts/bench/preload.py feed), which the statement puts in
-- the feed's outbox. What the service then runs to move the outbox into the feed (batched:
-- `ct_append_feed`, by its feed writer) is not replayed.
-- Differences, all small: the thread id comes from a subquery on bench_ids (pgbench has no UUID
-- variables), NULL arguments are constants (pgbench cannot bind a NULL), values go as text
-- (diesel binds binary), created_at is now() (the service binds its own clock).
\set n random(1, :threads)
\set version 1
SELECT parent_id, depth FROM ct_append_message(
    (SELECT id FROM bench_ids WHERE n = :n), :owner, NULL::uuid, bench_uuid_v7(), :role,
    :content, :content_type, NULL::text, :status, NULL::text, NULL::integer, NULL::integer,
    :metadata, now(), :version, :attachments, :owner, NULL::text, :feed);
