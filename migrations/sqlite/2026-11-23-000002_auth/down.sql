DROP TABLE IF EXISTS server_secrets;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS accounts;
