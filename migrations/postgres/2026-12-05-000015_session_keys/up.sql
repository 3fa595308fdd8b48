-- Each anonymous session gets a random key, carried by its tokens: ending a session and opening
-- another under the same id does not bring the old tokens back (revocation by identity).
-- Sessions stored before have an empty key, as their tokens carry none.
ALTER TABLE sessions ADD COLUMN session_key TEXT NOT NULL DEFAULT '';
