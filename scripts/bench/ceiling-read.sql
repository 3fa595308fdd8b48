\set t random(1, :threads)
SELECT m.id, m.thread_id, m.parent_id, m.depth, m.role, m.content, m.content_type, m.display_text,
       m.status, m.model, m.prompt_tokens, m.completion_tokens, m.feedback_rating, m.feedback_text,
       m.reaction, m.metadata, m.edited_at, m.created_at, m.updated_at, m.deleted_at, m.version,
       m.tombstoned_at, m.attachments
  FROM bench_messages m JOIN bench_threads t ON t.id = m.thread_id
 WHERE t.n = :t AND t.owner = 'bench' AND t.deleted_at IS NULL
 ORDER BY m.created_at DESC LIMIT 50;
