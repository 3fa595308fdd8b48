DROP TABLE balance_ledger;
DROP TABLE balance_holds;
DROP TABLE balances;
