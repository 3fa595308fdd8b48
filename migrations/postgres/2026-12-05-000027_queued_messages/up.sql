-- Follow-ups queued while a reply runs (on_busy: queue; application/src/replies/queue.rs): a
-- queued user message is stored with status 'complete' and queued_at set (the status CHECK
-- stays as it is on both backends; reading turns it into `queued`), under the running reply.
ALTER TABLE messages ADD COLUMN queued_at TIMESTAMPTZ;
CREATE INDEX messages_queued ON messages (thread_id, created_at) WHERE queued_at IS NOT NULL;
