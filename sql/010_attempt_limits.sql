-- Failure and request limits (src/auth/limiter.rs), kept here rather than
-- in memory so that a restart does not forget them and several processes
-- on one database share them. A row counts events of one key (an account,
-- an address, a pair of both) for one limit in a fixed window that ends at
-- `ends_at` (Unix milliseconds); the janitor deletes rows whose window
-- has ended.
CREATE TABLE IF NOT EXISTS attempt_limits (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    ends_at BIGINT NOT NULL,
    PRIMARY KEY (name, key)
);

-- The janitor's prune of ended windows.
CREATE INDEX IF NOT EXISTS attempt_limits_ends_idx ON attempt_limits (ends_at);
