-- Password-reset phrases. Only the SHA-256 of a phrase is stored, so a
-- leaked table resets nobody's password; one row per user, so asking again
-- replaces the previous phrase. Times are Unix seconds.
--
-- The original's `password_reset` table (clear phrases that never expire)
-- is left as it is and no longer read.
CREATE TABLE IF NOT EXISTS password_resets (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phrase_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS password_resets_expires_at_idx ON password_resets (expires_at);
