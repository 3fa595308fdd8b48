-- Webhooks (application/src/webhooks): the change feed pushed to a URL. A webhook follows its
-- creator's feed: an organization's (org_id set) or an owner's threads (owner set). One
-- instance at a time serves it (lease_owner until lease_until); feed_cursor is the last feed
-- entry turned into a delivery.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    owner TEXT,
    org_id TEXT,
    url TEXT NOT NULL,
    events TEXT NOT NULL DEFAULT '[]',
    secret TEXT NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    feed_cursor INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((owner IS NULL) <> (org_id IS NULL))
);
CREATE INDEX webhooks_owner ON webhooks (owner);
CREATE INDEX webhooks_org ON webhooks (org_id);
-- One feed entry on its way to one webhook; payload is the body sent.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    UNIQUE (webhook_id, seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, seq) WHERE status = 'pending';
