-- Back to one balance per account id: a balance kept in several organizations keeps only the
-- row of the first one (by creation).
DROP INDEX balance_ledger_account;
CREATE INDEX balance_ledger_account ON balance_ledger (account, created_at DESC, id DESC);
ALTER TABLE balance_ledger DROP COLUMN seq;
ALTER TABLE balance_ledger DROP COLUMN org_id;

DROP INDEX balance_holds_account;
DELETE FROM balance_holds WHERE instance IS NOT NULL;
ALTER TABLE balance_holds DROP COLUMN instance;
ALTER TABLE balance_holds DROP COLUMN org_id;
CREATE INDEX balance_holds_account ON balance_holds (account);

CREATE TABLE balances_old (
    account TEXT PRIMARY KEY,
    org_id TEXT,
    amount BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT OR IGNORE INTO balances_old (account, org_id, amount, created_at, updated_at)
  SELECT account, NULLIF(org_id, ''), amount, created_at, updated_at FROM balances
   ORDER BY created_at, org_id;
DROP TABLE balances;
ALTER TABLE balances_old RENAME TO balances;
