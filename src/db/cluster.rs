//! SQL that lets several platform processes share one database: who is
//! alive (`platform_processes` and an advisory lock each), which modules
//! run where (`running_modules`), and which `resolve_id`s were used
//! (`hub_replay`).

use super::DbError;
use postgres::GenericClient;

/// The advisory locks' first key ("SSE"): the second is a process id.
const LIVENESS_LOCKS: i32 = 0x0015_5E47;

/// A process's row, with its id (the key of its liveness lock).
#[derive(Clone, Debug)]
pub struct Process {
    pub id: i32,
    pub host: String,
    pub pid: u32,
    pub port: u16,
    pub started_at: i64,
}

/// A new process id, before its row exists: the lock is taken first, so
/// that no other process can see the row without the lock and reap it.
pub fn next_process_id(c: &mut impl GenericClient) -> Result<i32, DbError> {
    let row = c.query_one("SELECT nextval('platform_processes_id_seq')::int", &[])?;
    Ok(row.try_get(0)?)
}

/// Takes the liveness lock of `process` on this connection (held until it
/// closes) and writes the row if it is missing (after a reconnection the
/// others may have reaped it).
pub fn declare_alive(c: &mut impl GenericClient, process: &Process) -> Result<(), DbError> {
    c.execute(
        "SELECT pg_advisory_lock($1, $2)",
        &[&LIVENESS_LOCKS, &process.id],
    )?;
    c.execute(
        "INSERT INTO platform_processes (id, host, pid, port, started_at, alive_at)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
        &[
            &process.id,
            &process.host,
            &(process.pid as i32),
            &i32::from(process.port),
            &process.started_at,
        ],
    )?;
    // The others learn at once that they are no longer alone.
    changed(c, process.id)
}

/// A module whose entry went with its process.
pub struct Reaped {
    pub module: String,
    pub port: u16,
    pub url: Option<String>,
}

/// A process without its lock is dead once it has not said it is alive
/// for this long (a reconnection takes less).
const REAP_AFTER_SECONDS: i64 = 5;

/// Deletes the processes whose liveness lock is gone (they died, or lost
/// their connection for long) and their modules' entries; returns the
/// modules. A process on this machine (`me.host`) whose pid `runs_here`
/// denies is dead at once, without the wait: a platform restarted after a
/// crash gets its modules back as they reconnect, not `already_running`.
pub fn reap_dead(
    c: &mut postgres::Client,
    me: &Process,
    now: i64,
    runs_here: impl Fn(u32) -> bool,
) -> Result<Vec<Reaped>, DbError> {
    let mut tx = c.transaction()?;
    let mut gone_here: Vec<i32> = Vec::new();
    let local = tx.query(
        "SELECT id, pid FROM platform_processes WHERE host = $1 AND id <> $2",
        &[&me.host, &me.id],
    )?;
    for row in local {
        let pid: i32 = row.try_get("pid")?;
        if !u32::try_from(pid).is_ok_and(&runs_here) {
            gone_here.push(row.try_get("id")?);
        }
    }
    let dead: Vec<i32> = tx
        .query(
            "DELETE FROM platform_processes p
             WHERE p.id <> $1 AND (p.alive_at < $3 OR p.id = ANY($4)) AND NOT EXISTS (
                 SELECT 1 FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid = $2::int::oid AND l.objid = p.id::oid)
             RETURNING id",
            &[
                &me.id,
                &LIVENESS_LOCKS,
                &(now - REAP_AFTER_SECONDS),
                &gone_here,
            ],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let rows = tx.query(
        "DELETE FROM running_modules m
         WHERE m.process_id = ANY($1) OR NOT EXISTS
               (SELECT 1 FROM platform_processes p WHERE p.id = m.process_id)
         RETURNING module, port, url",
        &[&dead],
    )?;
    if !rows.is_empty() {
        changed(&mut tx, me.id)?;
    }
    tx.commit()?;
    rows.iter().map(reaped).collect()
}

fn reaped(r: &postgres::Row) -> Result<Reaped, DbError> {
    Ok(Reaped {
        module: r.try_get("module")?,
        port: u16::try_from(r.try_get::<_, i32>("port")?).unwrap_or(0),
        url: r.try_get("url")?,
    })
}

/// Deletes this process's row and modules (a clean stop).
pub fn leave(c: &mut impl GenericClient, me: i32) -> Result<(), DbError> {
    let mut tx = c.transaction()?;
    tx.execute("DELETE FROM running_modules WHERE process_id = $1", &[&me])?;
    tx.execute("DELETE FROM platform_processes WHERE id = $1", &[&me])?;
    changed(&mut tx, me)?;
    Ok(tx.commit()?)
}

/// Who holds a module name, as `claim` found it.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The name is now this connection's (new, or its own again).
    Held,
    /// Another connection, here or in another process, holds it.
    Taken,
}

/// A module's entry for `conn` of process `me`.
pub struct Entry<'a> {
    pub module: &'a str,
    pub process: i32,
    pub conn: u64,
    pub port: u16,
    pub url: Option<&'a str>,
    pub now: i64,
}

/// Writes `e` unless another process holds the name; a change is
/// announced (`ModulesChanged`) when it commits. Within its own process the
/// caller's registry has already decided (a row of this process under
/// another connection is one whose release did not reach the database).
pub fn claim(c: &mut impl GenericClient, e: &Entry) -> Result<Claim, DbError> {
    let mut tx = c.transaction()?;
    let row = tx.query_opt(
        "INSERT INTO running_modules (module, process_id, conn_id, port, url, started_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (module) DO UPDATE
             SET port = EXCLUDED.port, url = EXCLUDED.url, conn_id = EXCLUDED.conn_id
         WHERE running_modules.process_id = EXCLUDED.process_id
         RETURNING 1",
        &[
            &e.module,
            &e.process,
            &(e.conn as i64),
            &i32::from(e.port),
            &e.url,
            &e.now,
        ],
    )?;
    if row.is_none() {
        return Ok(Claim::Taken);
    }
    changed(&mut tx, e.process)?;
    tx.commit()?;
    Ok(Claim::Held)
}

fn changed(c: &mut impl GenericClient, process: i32) -> Result<(), DbError> {
    super::notify::announce(c, &super::notify::Change::ModulesChanged { process })
}

/// Deletes the entries of connection `conn` of process `me`.
pub fn release(c: &mut impl GenericClient, me: i32, conn: u64) -> Result<(), DbError> {
    let mut tx = c.transaction()?;
    tx.execute(
        "DELETE FROM running_modules WHERE process_id = $1 AND conn_id = $2",
        &[&me, &(conn as i64)],
    )?;
    changed(&mut tx, me)?;
    Ok(tx.commit()?)
}

/// Deletes the entries of process `me` that are not among `owned` (module
/// names with their connections): releases that did not reach the
/// database while it was away.
pub fn keep_only(
    c: &mut impl GenericClient,
    me: i32,
    owned: &[(String, u64)],
) -> Result<u64, DbError> {
    let names: Vec<&str> = owned.iter().map(|(m, _)| m.as_str()).collect();
    let conns: Vec<i64> = owned.iter().map(|(_, c)| *c as i64).collect();
    let mut tx = c.transaction()?;
    let gone = tx.execute(
        "DELETE FROM running_modules WHERE process_id = $1 AND (module, conn_id) NOT IN
             (SELECT * FROM unnest($2::text[], $3::bigint[]))",
        &[&me, &names, &conns],
    )?;
    if gone > 0 {
        changed(&mut tx, me)?;
    }
    tx.commit()?;
    Ok(gone)
}

/// Every running module of every process, by name.
pub fn running(c: &mut impl GenericClient) -> Result<Vec<Reaped>, DbError> {
    let rows = c.query(
        "SELECT module, port, url FROM running_modules ORDER BY module",
        &[],
    )?;
    rows.iter().map(reaped).collect()
}

/// Whether `module` runs anywhere.
pub fn is_running(c: &mut impl GenericClient, module: &str) -> Result<bool, DbError> {
    let row = c.query_opt(
        "SELECT 1 FROM running_modules WHERE module = $1",
        &[&module],
    )?;
    Ok(row.is_some())
}

/// `true` the first time any process records `(module, resolve_id)`.
pub fn first_use(c: &mut impl GenericClient, key: i64, now: i64) -> Result<bool, DbError> {
    let n = c.execute(
        "INSERT INTO hub_replay (key, seen_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&key, &now],
    )?;
    Ok(n == 1)
}

/// Records `(key, seen_at)` rows at once (what a process that is alone
/// accepted, written behind its back); returns how many were new.
pub fn record_replays(c: &mut impl GenericClient, rows: &[(i64, i64)]) -> Result<u64, DbError> {
    let keys: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let seen: Vec<i64> = rows.iter().map(|r| r.1).collect();
    Ok(c.execute(
        "INSERT INTO hub_replay (key, seen_at)
         SELECT * FROM unnest($1::bigint[], $2::bigint[])
         ON CONFLICT DO NOTHING",
        &[&keys, &seen],
    )?)
}

/// How many processes are alive (each has its row).
pub fn process_count(c: &mut impl GenericClient) -> Result<i64, DbError> {
    Ok(c.query_one("SELECT count(*) FROM platform_processes", &[])?
        .try_get(0)?)
}

/// Forgets the ids recorded before `before`.
pub fn prune_replay(c: &mut impl GenericClient, before: i64) -> Result<u64, DbError> {
    Ok(c.execute("DELETE FROM hub_replay WHERE seen_at < $1", &[&before])?)
}

/// A row of the hub's outbox.
pub struct OutboxRow {
    pub id: i64,
    pub origin: i32,
    pub target: Option<String>,
    pub payload: String,
}

/// Writes an event for the other processes and wakes them (`HubEvent`
/// with the id only), in one statement.
pub fn publish(
    c: &mut impl GenericClient,
    origin: i32,
    target: Option<&str>,
    payload: &str,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "WITH e AS (INSERT INTO hub_events (origin, target, payload, created_at)
                    VALUES ($1, $2, $3, $4) RETURNING id)
         SELECT pg_notify($5, 'hub_event ' || id) FROM e",
        &[&origin, &target, &payload, &now, &super::notify::CHANNEL],
    )?;
    Ok(())
}

/// The newest event's id (where a starting process begins to read).
pub fn last_event(c: &mut impl GenericClient) -> Result<i64, DbError> {
    let row = c.query_one("SELECT coalesce(max(id), 0) FROM hub_events", &[])?;
    Ok(row.try_get(0)?)
}

/// Up to `limit` events after `after`, oldest first.
pub fn events_after(
    c: &mut impl GenericClient,
    after: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, DbError> {
    let rows = c.query(
        "SELECT id, origin, target, payload FROM hub_events WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after, &limit],
    )?;
    rows.iter()
        .map(|r| {
            Ok(OutboxRow {
                id: r.try_get("id")?,
                origin: r.try_get("origin")?,
                target: r.try_get("target")?,
                payload: r.try_get("payload")?,
            })
        })
        .collect()
}

/// Says that process `me` is alive at `now` and has read the outbox up to
/// `seen`, and deletes the events every live process has read (or that
/// are older than `before`, in case one stopped reading).
pub fn heartbeat(
    c: &mut impl GenericClient,
    me: i32,
    seen: i64,
    now: i64,
    before: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE platform_processes SET hub_seen = greatest(hub_seen, $2), alive_at = $3
         WHERE id = $1",
        &[&me, &seen, &now],
    )?;
    c.execute(
        "DELETE FROM hub_events WHERE id <= (SELECT min(hub_seen) FROM platform_processes)
            OR created_at < $1",
        &[&before],
    )?;
    Ok(())
}
