-- The change feed (application/src/feed.rs): every thread event but deltas and typing, with an
-- increasing cursor. Appends are serialized cluster-wide (an advisory lock held to the commit),
-- so cursors follow commit order and every instance reads the same order. owner, org_id and
-- product are the thread's when the entry was written: who may read it, and its filters.
CREATE TABLE feed_events (
    seq BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    thread_id UUID NOT NULL,
    owner TEXT NOT NULL,
    org_id TEXT,
    product TEXT,
    kind TEXT NOT NULL,
    reply_id UUID,
    data TEXT NOT NULL
);
CREATE INDEX feed_events_owner ON feed_events (owner, seq);
CREATE INDEX feed_events_org ON feed_events (org_id, seq) WHERE org_id IS NOT NULL;
CREATE INDEX feed_events_at ON feed_events (at);
-- The highest cursor retention removed: a reader after a lower one missed entries.
CREATE TABLE feed_floor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO feed_floor (id, seq) VALUES (1, 0);
