-- The replay guard's shared table, keyed by a 64-bit hash of (module,
-- resolve_id) instead of the two texts: one 8-byte index instead of a text
-- key, for a table written once per signed message. It holds at most the
-- last hour and is unlogged (a cache), so the old one goes.
DROP TABLE hub_replay;
CREATE UNLOGGED TABLE hub_replay (
    key BIGINT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
CREATE INDEX hub_replay_seen ON hub_replay (seen_at);
