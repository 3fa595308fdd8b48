ALTER TABLE messages DROP COLUMN author_name;
ALTER TABLE messages DROP COLUMN author;
DROP TABLE thread_members;
