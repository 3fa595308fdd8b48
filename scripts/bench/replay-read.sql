-- Replay ceiling, read (scripts/bench-http.sh): the one statement the service issues for
-- GET /v1/threads/{id}/messages?limit=50 (ActivePathQuery, crates/infrastructure/src/db/tree_sql.rs,
-- with MESSAGE_COLUMNS from db/models.rs): the owner's read check on the thread and its active
-- leaf, then the 51 newest messages of the thread up to the leaf (the page and one more, to tell
-- whether there is more) in one backward range scan of messages_thread_created. The service
-- walks their parent links itself; on the benchmark's paths (no branches) all 51 are the path.
-- Differences: the thread id comes from a subquery on bench_ids, the org (none for this
-- principal) is a NULL constant where the service binds a NULL, and pgbench takes the rows as
-- text where diesel takes them binary (PostgreSQL formats 51 x 27 values: uuid, timestamptz,
-- jsonb as text) with c backends where the service has at most 16. In small runs this cost
-- PostgreSQL more CPU per read than the service's own read did, so this ceiling may be on the
-- low side: compare the two pg ms columns. The thread row's xmin comes last in each row, as
-- the service reads it (the page's stamp: docs/operations.md, "Pages read again").
\set n random(1, :threads)
\set lim 51
WITH l AS (SELECT m.id, m.created_at, t.xmin::text::bigint AS v FROM threads t
    JOIN messages m ON m.id = t.active_leaf_id AND m.thread_id = t.id
    WHERE t.id = (SELECT id FROM bench_ids WHERE n = :n)
    AND t.deleted_at IS NULL AND (t.owner = :owner OR t.org_id = NULL::text))
SELECT m.id, m.thread_id, m.parent_id, m.depth, m.role, m.content, m.content_type, m.display_text,
       m.status, m.model, m.prompt_tokens, m.completion_tokens, m.feedback_rating, m.feedback_text,
       m.reaction, m.metadata, m.edited_at, m.created_at, m.updated_at, m.deleted_at, m.version,
       m.tombstoned_at, m.attachments, m.parts, m.author, m.author_name, m.queued_at,
       (SELECT v FROM l)
  FROM messages m
 WHERE m.thread_id = (SELECT id FROM bench_ids WHERE n = :n)
   AND m.created_at <= (SELECT created_at FROM l)
   AND (m.created_at < (SELECT created_at FROM l) OR m.id <= (SELECT id FROM l))
 ORDER BY m.created_at DESC, m.id DESC LIMIT (:lim)::bigint;
