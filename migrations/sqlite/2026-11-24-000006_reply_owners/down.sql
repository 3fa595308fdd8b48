DROP TABLE reply_owners;
