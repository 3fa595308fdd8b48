-- The thread list's order, by the name PostgreSQL keeps it under (see the PostgreSQL migration
-- of the same name). PostgreSQL moved it to a narrow table so that appends update their thread
-- without touching its indexes (HOT). SQLite has no such cost: an UPDATE rewrites only the
-- indexes whose columns change, so an append touches one index of `threads`
-- (threads_owner_updated) either way. Here the name is a view over `threads`: the same list
-- query runs on both backends, and no write pays for a second table.
CREATE VIEW thread_activity AS
    SELECT id AS thread_id, owner, updated_at FROM threads;
