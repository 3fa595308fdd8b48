DROP FUNCTION ct_append_feed(jsonb);
