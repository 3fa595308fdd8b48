DROP VIEW thread_activity;
