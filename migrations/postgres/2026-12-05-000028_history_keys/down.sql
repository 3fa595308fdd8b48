DROP TABLE history_keys;
