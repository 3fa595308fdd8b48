-- Back to one balance per account id: a balance kept in several organizations keeps only the
-- row of the first one (by creation) and loses the others' ledger entries from view.
DROP INDEX balance_ledger_account;
CREATE INDEX balance_ledger_account ON balance_ledger (account, created_at DESC, id DESC);
ALTER TABLE balance_ledger DROP COLUMN seq;
ALTER TABLE balance_ledger DROP COLUMN org_id;

DROP INDEX balance_holds_account;
DELETE FROM balance_holds WHERE instance IS NOT NULL;
ALTER TABLE balance_holds DROP COLUMN instance;
ALTER TABLE balance_holds DROP COLUMN org_id;
CREATE INDEX balance_holds_account ON balance_holds (account);

ALTER TABLE balances DROP CONSTRAINT balances_pkey;
DELETE FROM balances b USING balances o
 WHERE o.account = b.account AND (o.created_at, o.org_id) < (b.created_at, b.org_id);
ALTER TABLE balances ALTER COLUMN org_id DROP NOT NULL;
ALTER TABLE balances ALTER COLUMN org_id DROP DEFAULT;
UPDATE balances SET org_id = NULL WHERE org_id = '';
ALTER TABLE balances ADD PRIMARY KEY (account);
