-- Kept in step with PostgreSQL, where events too large for a NOTIFY payload travel by reference
-- through this table. A SQLite deployment is a single instance and never writes to it.
CREATE TABLE event_payloads (
    id TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX event_payloads_created ON event_payloads (created_at);
