ALTER TABLE messages DROP COLUMN parts;
