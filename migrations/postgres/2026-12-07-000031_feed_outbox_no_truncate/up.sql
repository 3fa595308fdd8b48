-- VACUUM ends by cutting the empty pages off the end of a table, which takes an ACCESS
-- EXCLUSIVE lock. On feed_outbox, which every append inserts into, the feed writer's own
-- VACUUM (every 5,000 moved rows) waited up to 5 s for a moment with no insert in progress —
-- the writer, and so the change feed, waiting with it (lag p99 0.4-2.5 s under appends) — and
-- once it had the lock, appends queued behind it (0.2-0.6 s). The outbox refills at once:
-- its pages are never worth giving back.
ALTER TABLE feed_outbox SET (vacuum_truncate = false);
