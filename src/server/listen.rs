//! The `db-listen` thread: hears the changes other programs (the admin
//! command line) announce with `pg_notify` (`db::notify`), and applies each
//! at once as the web paths apply their own: the session cache first, then
//! the hub, so modules hear `session_ended`, `user_logout`,
//! `user_role_change` and `user_delete` exactly as when the web does it.
//!
//! While the connection is down, changes go unheard; so from the moment it
//! is lost until it listens again each use of a session asks the database
//! (a cached one serves only while the database does not answer), and the
//! cache is dropped when it listens again.

use super::StartError;
use crate::auth::ended::EndReason;
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::cluster;
use crate::db::notify::{Change, Listener};
use crate::db::users;
use crate::hub::{Event, OutboxCursor};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a wait for a change lasts before the connection is checked,
/// and how often the processes that died are looked for.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Pauses between connection attempts: doubling from the first to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LAST_PAUSE: Duration = Duration::from_secs(4);
/// Outbox events read at once.
const OUTBOX_BATCH: i64 = 500;
/// Outbox events older than this are deleted even if a process has not
/// read them (one that stopped reading must not keep tokens there).
const OUTBOX_KEEP_SECONDS: i64 = 300;

/// Starts listening, then the thread, which runs as long as the process:
/// every change committed after this returns is heard.
pub fn start(ctx: Arc<Ctx>) -> Result<(), StartError> {
    let mut listener = Listener::connect(&ctx.config.pg, &ctx.process)?;
    let seen = OutboxCursor::after(cluster::last_event(listener.client())?);
    ctx.sessions.forget_all();
    // Before the first module can connect: a crashed predecessor's
    // modules must not be `already_running` when they come back.
    reap(&ctx, &mut listener);
    count_processes(&ctx, &mut listener);
    std::thread::Builder::new()
        .name("db-listen".into())
        .spawn(move || run(&ctx, listener, seen))
        .map(drop)
        .map_err(StartError::io("db-listen thread"))
}

/// `seen`: how far the outbox has been read.
fn run(ctx: &Ctx, mut listener: Listener, mut seen: OutboxCursor) {
    // A hole in the outbox's ids is open: read again at the next check.
    let mut hole = false;
    loop {
        let mut checked_at = Instant::now();
        loop {
            match listener.next(CHECK_EVERY) {
                Ok(Some(Change::HubEvent { .. })) => {
                    hole = read_outbox(ctx, &mut listener, &mut seen);
                }
                Ok(Some(change)) => apply(ctx, change),
                Ok(None) => {}
                Err(e) => {
                    let cached = ctx.sessions.distrust_cache();
                    // Another process's start would go unheard too.
                    ctx.hub.processes_alive(i64::MAX);
                    log::warn!("db-listen: connection lost: {e}; sessions are checked in the database until it is back ({cached} cached ones only serve while it does not answer)");
                    break;
                }
            }
            if checked_at.elapsed() >= CHECK_EVERY {
                if hole {
                    hole = read_outbox(ctx, &mut listener, &mut seen);
                }
                reap(ctx, &mut listener);
                heartbeat(ctx, &mut listener, seen.seen_up_to());
                ctx.hub.resync_if_needed();
                checked_at = Instant::now();
            }
        }
        listener = connect(ctx);
        let dropped = ctx.sessions.trust_cache();
        log::warn!("db-listen: listening again; dropped the session cache ({dropped} sessions), sessions are cached again");
        ctx.hub.modules_changed();
        ctx.hub.republish();
        // What other processes published while this one was not listening.
        hole = read_outbox(ctx, &mut listener, &mut seen);
    }
}

/// Delivers every outbox event not delivered yet, oldest first; `true`
/// while a hole in the ids is waited for (see `hub::OutboxCursor`).
fn read_outbox(ctx: &Ctx, listener: &mut Listener, seen: &mut OutboxCursor) -> bool {
    let mut after = seen.read_from();
    loop {
        let rows = match cluster::events_after(listener.client(), after, OUTBOX_BATCH) {
            Ok(rows) => rows,
            Err(e) => {
                log::warn!("db-listen: hub events not read: {e}");
                return true;
            }
        };
        let full = rows.len() as i64 == OUTBOX_BATCH;
        if let Some(last) = rows.last() {
            after = last.id;
        }
        let new: Vec<_> = rows.into_iter().filter(|r| seen.take(r.id)).collect();
        ctx.hub.deliver_published(new);
        if !full {
            return seen.settle(Instant::now());
        }
    }
}

/// Says this process is alive and how far it has read, so that rows every
/// process has read are deleted (and any older than `OUTBOX_KEEP_SECONDS`).
fn heartbeat(ctx: &Ctx, listener: &mut Listener, seen: i64) {
    let now = unix_now();
    let before = now - OUTBOX_KEEP_SECONDS;
    if let Err(e) = cluster::heartbeat(listener.client(), ctx.process.id, seen, now, before) {
        log::warn!("db-listen: heartbeat not written: {e}");
    }
    count_processes(ctx, listener);
}

/// Tells the hub whether this process is alone (the others' starts are
/// announced at once; this notices that they are gone).
fn count_processes(ctx: &Ctx, listener: &mut Listener) {
    match cluster::process_count(listener.client()) {
        Ok(count) => ctx.hub.processes_alive(count),
        Err(e) => log::warn!("db-listen: processes not counted: {e}"),
    }
}

/// Removes the modules of processes that died; this process's modules
/// hear `module_stopped` for each, as for one of its own.
fn reap(ctx: &Ctx, listener: &mut Listener) {
    match listener.reap_dead(&ctx.process, unix_now(), platform_runs) {
        Ok(gone) => {
            if !gone.is_empty() {
                ctx.hub.modules_changed();
            }
            for m in gone {
                log::info!("module '{}' stopped: its process is gone", m.module);
                ctx.hub
                    .broadcast(Event::ModuleStopped(crate::hub::RunningModule {
                        name: m.module,
                        port: m.port,
                        url: m.url,
                    }));
            }
        }
        Err(e) => log::warn!("db-listen: dead processes not looked for: {e}"),
    }
}

/// Whether `pid` may be a running platform on this machine: no process
/// has it (`kill(pid, 0)` says so), or /proc names another program there
/// (the pid was taken since), means no. What cannot be told is taken as
/// yes: the wait for the heartbeat then decides.
fn platform_runs(pid: u32) -> bool {
    let Some(id) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    if rustix::process::test_kill_process(id) == Err(rustix::io::Errno::SRCH) {
        return false;
    }
    let name = |path: String| std::fs::read_to_string(path).ok();
    match (
        name(format!("/proc/{pid}/comm")),
        name("/proc/self/comm".to_owned()),
    ) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => true,
    }
}

/// Connects, retrying with backoff for as long as it takes.
fn connect(ctx: &Ctx) -> Listener {
    let mut pause = FIRST_PAUSE;
    loop {
        match Listener::connect(&ctx.config.pg, &ctx.process) {
            Ok(listener) => return listener,
            Err(e) => {
                if pause == FIRST_PAUSE {
                    log::warn!("db-listen: cannot listen ({e}); retrying");
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(LAST_PAUSE);
            }
        }
    }
}

fn apply(ctx: &Ctx, change: Change) {
    match change {
        Change::SessionEnded {
            user_id,
            token_hash,
            reason,
        } => {
            let Some(reason) = EndReason::from_word(&reason) else {
                log::warn!("db-listen: unknown end reason; forgetting user {user_id}'s sessions");
                ctx.sessions.forget_user(user_id);
                return;
            };
            ctx.sessions.ended_elsewhere(&token_hash, user_id, reason);
        }
        Change::SessionsRevoked { user_id } => {
            ctx.sessions.forget_user(user_id);
            ctx.hub
                .broadcast_here(Event::UserSessionsRevoked { user_id });
        }
        Change::RoleChanged { user_id } => role_changed(ctx, user_id),
        Change::ModulesChanged { process } => {
            ctx.hub.process_seen(process);
            ctx.hub.modules_changed();
        }
        Change::SessionGone { token_hash, .. } => ctx.sessions.forget(&token_hash),
        Change::UserChanged { user_id } => ctx.sessions.forget_user(user_id),
        // Read from the outbox by `run`, which knows how far it has read.
        Change::HubEvent { .. } => {}
        Change::UserDeleted { user_id } => {
            ctx.sessions.forget_user(user_id);
            ctx.hub.broadcast_here(Event::UserDelete {
                user_id,
                token: None,
            });
            log::info!("db-listen: user {user_id} deleted elsewhere");
        }
    }
}

/// Reads the new role and applies it as `POST /roles` does. If the
/// database cannot say, the user's sessions are forgotten instead, so that
/// no request is answered with the old role.
fn role_changed(ctx: &Ctx, user_id: i32) {
    let found = ctx
        .db
        .conn()
        .and_then(|mut c| users::by_id(&mut *c, user_id));
    match found {
        Ok(Some(creds)) => {
            let role = creds.user.role;
            ctx.sessions.set_role(user_id, role);
            ctx.hub.broadcast_here(Event::UserRoleChange {
                username: creds.user.name,
                role,
            });
            log::info!("db-listen: role of user {user_id} set to {role} elsewhere");
        }
        Ok(None) => ctx.sessions.forget_user(user_id),
        Err(e) => {
            log::warn!("db-listen: role of user {user_id} not read ({e}); forgetting its sessions");
            ctx.sessions.forget_user(user_id);
        }
    }
}
