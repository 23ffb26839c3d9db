-- Each module's last module_start (port, url), so that a module whose
-- client reconnects without sending module_start again (the original's
-- 2021-01 client after a platform restart) is listed as running once it
-- signs a message. Times are Unix seconds.
CREATE TABLE IF NOT EXISTS module_registrations (
    module TEXT PRIMARY KEY,
    port INTEGER NOT NULL,
    url TEXT,
    updated_at BIGINT NOT NULL
);
