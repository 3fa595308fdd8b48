-- Token usage per principal per day (UTC), for reporting and the daily quota.
CREATE TABLE usage_daily (
    owner TEXT NOT NULL,
    day TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, day)
);
-- Finds replies still streaming (the one-reply-at-a-time rule, crash recovery).
CREATE INDEX messages_streaming ON messages (thread_id) WHERE status = 'streaming';
