-- Token usage per principal, UTC day and model (replies, summaries, and messages stored with
-- their token counts); usage_daily keeps the day totals the quota reads.
CREATE TABLE usage_model_daily (
    owner TEXT NOT NULL,
    day TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, day, model)
);
