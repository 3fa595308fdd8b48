DROP TABLE IF EXISTS event_payloads;
