ALTER INDEX messages_content_tsv RESET (gin_pending_list_limit);
