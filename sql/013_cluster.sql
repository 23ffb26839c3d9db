-- Several platform processes on one database.
--
-- Each live process has a row here and holds, on its listening connection,
-- the session-level advisory lock (classid 1397051, objid = id) that says
-- it is alive: PostgreSQL releases it when the connection or the process
-- dies, and the others then delete the row and its modules.
CREATE TABLE platform_processes (
    id SERIAL PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    port INTEGER NOT NULL,
    started_at BIGINT NOT NULL
);

-- The running modules of every process: a module name is running once,
-- wherever its connection is. `conn_id` is the owning connection within
-- its process.
CREATE TABLE running_modules (
    module TEXT PRIMARY KEY,
    process_id INTEGER NOT NULL,
    conn_id BIGINT NOT NULL,
    port INTEGER NOT NULL,
    url TEXT,
    started_at BIGINT NOT NULL
);
CREATE INDEX running_modules_owner ON running_modules (process_id, conn_id);

-- The resolve_ids accepted in the last hour, from any process. Unlogged:
-- written once per signed message and worth nothing after an hour, so it
-- skips the WAL; a crash of PostgreSQL empties it, and each process's own
-- memory of the hour still refuses its repeats.
CREATE UNLOGGED TABLE hub_replay (
    module TEXT NOT NULL,
    resolve_id TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (module, resolve_id)
);
CREATE INDEX hub_replay_seen ON hub_replay (seen_at);

-- The outbox of hub events between processes: broadcasts and messages to
-- a module connected to another process. The NOTIFY that wakes the others
-- carries only the id (payloads are bigger than NOTIFY allows, and every
-- database user may read NOTIFY payloads; these rows hold tokens). Rows
-- that every live process has read are deleted within seconds.
CREATE TABLE hub_events (
    id BIGSERIAL PRIMARY KEY,
    origin INTEGER NOT NULL,
    target TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- How far each process has read the outbox, and when it last said it is
-- alive (every 2 s): a process whose lock is gone is reaped only once its
-- last word is 5 s old, so a reconnection does not cost it its modules.
ALTER TABLE platform_processes ADD COLUMN hub_seen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE platform_processes ADD COLUMN alive_at BIGINT NOT NULL DEFAULT 0;

-- Every process caches sessions. Whatever deletes a session row (a
-- logout, an admin, expiry, a deleted account, another program) or
-- changes a user's role announces it in its own transaction, so that every
-- process drops the cached entry the moment it commits. These carry only
-- a user id and a token's SHA-256, never a token; reporting the end to
-- modules is done once, by whoever ended it.
CREATE FUNCTION sse_platform_session_gone() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('sse_platform_sessions',
        'session_gone ' || OLD.user_id || ' ' || encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER sessions_gone AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION sse_platform_session_gone();

CREATE FUNCTION sse_platform_user_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('sse_platform_sessions', 'user_changed ' || NEW.id);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER users_role_changed AFTER UPDATE OF role ON users
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION sse_platform_user_changed();
