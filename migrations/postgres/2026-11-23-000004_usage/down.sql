DROP INDEX IF EXISTS messages_streaming;
DROP TABLE IF EXISTS usage_daily;
