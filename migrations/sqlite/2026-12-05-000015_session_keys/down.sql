ALTER TABLE sessions DROP COLUMN session_key;
