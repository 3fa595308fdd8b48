-- Replay ceiling, read (scripts/bench-http.sh): the one statement the service issues for
-- GET /v1/threads/{id}/messages?limit=50 (ActivePathQuery, crates/infrastructure/src/db/tree_sql.rs,
-- with MESSAGE_COLUMNS from db/models.rs): the owner's read check on the thread, its active leaf,
-- the walk up 51 parent links (the page and one more, to tell whether there is more); no ORDER
-- BY: the service puts the page root first itself (by depth).
-- Differences: the thread id comes from a subquery on bench_ids, the org (none for this
-- principal) is a NULL constant where the service binds a NULL, and pgbench takes the rows as
-- text where diesel takes them binary (PostgreSQL formats 51 x 23 values: uuid, timestamptz,
-- jsonb as text) with c backends where the service has at most 16. In small runs this cost
-- PostgreSQL more CPU per read than the service's own read did, so this ceiling may be on the
-- low side: compare the two pg ms columns.
\set n random(1, :threads)
\set lim 51
WITH RECURSIVE t AS (SELECT id, active_leaf_id FROM threads WHERE id = (SELECT id FROM bench_ids WHERE n = :n)
    AND deleted_at IS NULL AND (owner = :owner OR org_id = NULL::text)),
  path(id, parent_id, n) AS (
    SELECT m.id, m.parent_id, 1 FROM messages m JOIN t ON m.id = t.active_leaf_id AND m.thread_id = t.id
    UNION ALL
    SELECT m.id, m.parent_id, p.n + 1 FROM messages m JOIN path p ON m.id = p.parent_id WHERE p.n < (:lim)::bigint)
SELECT m.id, m.thread_id, m.parent_id, m.depth, m.role, m.content, m.content_type, m.display_text,
       m.status, m.model, m.prompt_tokens, m.completion_tokens, m.feedback_rating, m.feedback_text,
       m.reaction, m.metadata, m.edited_at, m.created_at, m.updated_at, m.deleted_at, m.version,
       m.tombstoned_at, m.attachments, m.parts, m.author, m.author_name, m.queued_at
  FROM path p JOIN messages m ON m.id = p.id;
