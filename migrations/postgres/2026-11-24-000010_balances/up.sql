-- Balances in the smallest currency unit, the holds of replies still streaming, and the ledger
-- of every credit and debit (kept when threads are purged: it is the audit trail).
CREATE TABLE balances (
    account TEXT PRIMARY KEY,
    org_id TEXT,
    amount BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE balance_holds (
    message_id UUID PRIMARY KEY,
    account TEXT NOT NULL,
    amount BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX balance_holds_account ON balance_holds (account);
CREATE TABLE balance_ledger (
    id UUID PRIMARY KEY,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    model TEXT,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    thread_id UUID,
    message_id UUID,
    note TEXT,
    actor TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX balance_ledger_account ON balance_ledger (account, created_at DESC, id DESC);
