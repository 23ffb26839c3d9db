-- E-mail verification (require_email_verification). Accounts that exist
-- when this runs count as verified, and so does every account made later
-- unless a registration marks it otherwise: only a self-registered account
-- on a platform that asks for verification starts unverified. Only the
-- SHA-256 of a link's token is stored, one per user (asking again replaces
-- it); times are Unix seconds.
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified BOOLEAN NOT NULL DEFAULT TRUE;

CREATE TABLE IF NOT EXISTS email_verifications (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS email_verifications_expires_at_idx ON email_verifications (expires_at);
