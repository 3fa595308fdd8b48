-- Events too large for a NOTIFY payload (8000 bytes) travel by reference through this table.
CREATE TABLE event_payloads (
    id UUID PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX event_payloads_created ON event_payloads (created_at);
