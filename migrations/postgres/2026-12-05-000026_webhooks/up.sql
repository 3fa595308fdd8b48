-- Webhooks (application/src/webhooks): the change feed pushed to a URL. A webhook follows its
-- creator's feed: an organization's (org_id set) or an owner's threads (owner set). One
-- instance at a time serves it (lease_owner until lease_until); feed_cursor is the last feed
-- entry turned into a delivery.
CREATE TABLE webhooks (
    id UUID PRIMARY KEY,
    owner TEXT,
    org_id TEXT,
    url TEXT NOT NULL,
    events TEXT NOT NULL DEFAULT '[]',
    secret TEXT NOT NULL,
    description TEXT,
    enabled BOOLEAN NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    feed_cursor BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK ((owner IS NULL) <> (org_id IS NULL))
);
CREATE INDEX webhooks_owner ON webhooks (owner);
CREATE INDEX webhooks_org ON webhooks (org_id);
-- One feed entry on its way to one webhook; payload is the body sent.
CREATE TABLE webhook_deliveries (
    id UUID PRIMARY KEY,
    webhook_id UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    thread_id UUID NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    UNIQUE (webhook_id, seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, seq) WHERE status = 'pending';
