DROP TABLE feed_floor;
DROP TABLE feed_events;
