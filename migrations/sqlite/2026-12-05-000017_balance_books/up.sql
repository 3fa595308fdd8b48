-- Balances are kept per organization: an account id (`user:dora`) names one balance in each
-- organization it is used in ('' for principals without one), so a service of one org never
-- reaches the money or the ledger of another's. Ledger entries are numbered per balance in the
-- order they commit (`seq`, taken inside the writing transaction), so `balance_after` read in
-- `seq` order is a continuous chain. Holds of unstored completions are kept by the instance
-- that runs them (`instance`; NULL for a reply's hold, which lives while its reply streams).
CREATE TABLE balances_new (
    account TEXT NOT NULL,
    org_id TEXT NOT NULL DEFAULT '',
    amount BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account, org_id)
);
INSERT INTO balances_new (account, org_id, amount, created_at, updated_at)
  SELECT account, COALESCE(org_id, ''), amount, created_at, updated_at FROM balances;
DROP TABLE balances;
ALTER TABLE balances_new RENAME TO balances;

ALTER TABLE balance_holds ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE balance_holds ADD COLUMN instance TEXT;
UPDATE balance_holds SET org_id = b.org_id FROM balances b WHERE b.account = balance_holds.account;
DROP INDEX balance_holds_account;
CREATE INDEX balance_holds_account ON balance_holds (account, org_id);

ALTER TABLE balance_ledger ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE balance_ledger ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE balance_ledger SET org_id = b.org_id FROM balances b WHERE b.account = balance_ledger.account;
UPDATE balance_ledger SET seq = r.n
  FROM (SELECT id, row_number() OVER (PARTITION BY account, org_id ORDER BY created_at, id) AS n
          FROM balance_ledger) r
 WHERE r.id = balance_ledger.id;
DROP INDEX balance_ledger_account;
CREATE UNIQUE INDEX balance_ledger_account ON balance_ledger (account, org_id, seq);
