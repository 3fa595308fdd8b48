-- Calls of /openai/v1 given whole (application/src/replies/history.rs): the key of a call's
-- input (a digest of its caller, system prompt and turns) names the reply it got, so a later
-- call that repeats that input and reply and adds one turn continues the same thread. Gone with
-- the reply (or its thread).
CREATE TABLE history_keys (
    digest TEXT PRIMARY KEY,
    thread_id UUID NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX history_keys_thread ON history_keys (thread_id);
CREATE INDEX history_keys_message ON history_keys (message_id);
