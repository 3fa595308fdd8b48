ALTER TABLE feed_outbox RESET (vacuum_truncate);
