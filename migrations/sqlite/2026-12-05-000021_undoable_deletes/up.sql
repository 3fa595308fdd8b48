-- Undoable deletes. A message deleted alone (a tombstone) keeps its content, hidden, until the
-- restore window passes; then the sweeper erases it and sets erased_at (it cannot be restored
-- any more). Messages deleted with their subtree keep their rows until the window passes; then
-- the sweeper removes them. The sweeper finds both through these partial indexes.
ALTER TABLE messages ADD COLUMN erased_at TEXT;
CREATE INDEX messages_tombstoned ON messages (tombstoned_at) WHERE tombstoned_at IS NOT NULL AND erased_at IS NULL;
CREATE INDEX messages_deleted ON messages (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX threads_deleted ON threads (deleted_at) WHERE deleted_at IS NOT NULL;
-- Tombstones made before this migration had their content erased at once.
UPDATE messages SET erased_at = tombstoned_at WHERE tombstoned_at IS NOT NULL;
