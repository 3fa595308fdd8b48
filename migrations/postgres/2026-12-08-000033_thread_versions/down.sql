DROP TRIGGER messages_changed_delete ON messages;
DROP TRIGGER messages_changed_update ON messages;
DROP FUNCTION ct_messages_changed();
ALTER TABLE threads DROP COLUMN revision;
