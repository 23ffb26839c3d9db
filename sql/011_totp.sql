-- Two-factor sign-in with TOTP (RFC 6238). A user's secret is stored only
-- sealed (ChaCha20-Poly1305 under the config's totp_encryption_key, the
-- nonce before the ciphertext, the user id as associated data), so a leaked
-- table gives no codes. `enabled` is false between enrolment's start and
-- its confirmation. `last_step` is the last time step whose code was
-- accepted: no code of that step or an earlier one is accepted again.
CREATE TABLE IF NOT EXISTS totp_secrets (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BYTEA NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One-time recovery codes: only their SHA-256 (the codes are 50 random
-- bits each); a used code's row is deleted.
CREATE TABLE IF NOT EXISTS totp_recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- A login between its password and its second step: the SHA-256 of the
-- challenge token the client holds, what the step is (`totp`: a code;
-- `enrol`: a role that requires TOTP enrols first), the wrong codes so far.
-- Here rather than in memory so that several processes could share them.
CREATE TABLE IF NOT EXISTS login_challenges (
    challenge_hash BYTEA PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS login_challenges_expires_at_idx ON login_challenges (expires_at);
