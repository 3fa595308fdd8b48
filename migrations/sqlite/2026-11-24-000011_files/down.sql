DROP TABLE file_usage;
DROP TABLE file_parts;
DROP TABLE files;
