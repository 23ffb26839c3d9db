-- The audit trail: who did what to whom, from where, and how it ended.
-- Written in batches by the server's `audit` thread and directly by the
-- admin command line; pruned after `audit_retention_days`. No field ever
-- holds a password, token, reset phrase, TOTP secret or recovery code.
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    address TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
