//! What the hub shares with the other platform processes on its database:
//! the running modules (`running_modules`, one name once across all) and
//! the `resolve_id`s used in the last hour (`hub_replay`).
//!
//! A process that is alone on its database (the usual case) checks
//! `resolve_id`s in its own memory only and writes them to `hub_replay` in
//! batches behind its back (`replay-writer`), so that a signed message
//! costs no database round trip; once another process is seen (its start
//! is announced), every check asks the table first. A process that starts
//! beside others finds there what was accepted before, up to the last
//! batch (20 ms).
//!
//! Each process keeps its own registry and replay memory too: the registry
//! knows which of its connections owns an entry, and both keep working,
//! for this process alone, while PostgreSQL is away (logged; the entries
//! are written again when the listening connection comes back).

use super::registry::{Registered, RunningModule};
use super::Hub;
use crate::clock::unix_now;
use crate::db::cluster::{self, Claim, Entry};
use crate::db::Db;
use crate::lock::lock;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Ids waiting for the replay writer; beyond, checks ask the table.
const REPLAY_QUEUE: usize = 10_000;
/// How long the writer gathers ids into one statement, and how many.
const REPLAY_BATCH_WAIT: Duration = Duration::from_millis(20);
const REPLAY_BATCH_MAX: usize = 1_000;

/// An accepted `resolve_id`: its key (`replay::key`) and Unix seconds.
type Replayed = (i64, i64);

/// The database and this process's id in `platform_processes`.
pub struct Shared {
    pub db: Arc<Db>,
    pub process: i32,
    /// Seals the outbox's payloads (they hold tokens), see `outbox`.
    pub outbox_key: [u8; 32],
    /// Every process's running modules as last read, until a change is
    /// announced (`ModulesChanged`): the list is read on every
    /// `GET /execution/running` and `get_running_modules`, and changes
    /// are rare.
    list: Mutex<Listed>,
    /// A write of this process's entries failed: the table may differ from
    /// the registry until [`Hub::resync`] writes it again.
    unsynced: AtomicBool,
    /// No other process is alive: replay checks stay in memory.
    alone: AtomicBool,
    /// To the `replay-writer` thread; `None` if it could not start.
    replays: Option<Sender<Replayed>>,
}

#[derive(Default)]
struct Listed {
    modules: Option<Vec<RunningModule>>,
    /// Counts changes, so that a read that raced one is not kept.
    generation: u64,
}

impl Shared {
    /// Queues an accepted id for the writer; `false` if it cannot take it
    /// (then the caller checks and records it in the table itself).
    fn record_later(&self, key: i64, now: i64) -> bool {
        let Some(replays) = &self.replays else {
            return false;
        };
        replays.try_send((key, now)).is_ok()
    }

    pub fn new(db: Arc<Db>, process: i32, outbox_key: [u8; 32]) -> Shared {
        Shared {
            db: db.clone(),
            process,
            outbox_key,
            list: Mutex::new(Listed::default()),
            unsynced: AtomicBool::new(false),
            alone: AtomicBool::new(false),
            replays: start_replay_writer(db),
        }
    }

    fn invalidate(&self) {
        let mut listed = lock(&self.list);
        listed.modules = None;
        listed.generation += 1;
    }

    /// The cached list, or the table's (kept if no change came meanwhile).
    fn list(&self) -> Result<Vec<RunningModule>, crate::db::DbError> {
        let generation = {
            let listed = lock(&self.list);
            if let Some(modules) = &listed.modules {
                return Ok(modules.clone());
            }
            listed.generation
        };
        let rows = cluster::running(&mut *self.db.conn()?)?;
        let modules: Vec<RunningModule> = rows
            .into_iter()
            .map(|r| RunningModule {
                name: r.module,
                port: r.port,
                url: r.url,
            })
            .collect();
        let mut listed = lock(&self.list);
        if listed.generation == generation {
            listed.modules = Some(modules.clone());
        }
        Ok(modules)
    }
}

impl Hub {
    /// Registers `name` for connection `owner` here and in the shared
    /// table; `Taken` if a connection of any process holds it.
    pub(super) fn register(
        &self,
        name: &str,
        port: u16,
        url: Option<String>,
        owner: u64,
    ) -> Registered {
        let outcome = lock(&self.registry).register(name, port, url.clone(), owner);
        if outcome == Registered::Taken {
            return outcome;
        }
        let Some(shared) = &self.shared else {
            return outcome;
        };
        let entry = Entry {
            module: name,
            process: shared.process,
            conn: owner,
            port,
            url: url.as_deref(),
            now: unix_now(),
        };
        let claimed = shared
            .db
            .conn()
            .and_then(|mut c| cluster::claim(&mut *c, &entry));
        shared.invalidate();
        match claimed {
            Ok(Claim::Held) => outcome,
            Ok(Claim::Taken) => {
                lock(&self.registry).remove(name, owner);
                Registered::Taken
            }
            Err(e) => {
                log::warn!("module '{name}': not shared with other processes yet: {e}");
                shared.unsynced.store(true, SeqCst);
                outcome
            }
        }
    }

    /// Whether `name` runs on any process (here only, if the database
    /// cannot say).
    pub(super) fn is_running(&self, name: &str) -> bool {
        if lock(&self.registry).contains(name) {
            return true;
        }
        let Some(shared) = &self.shared else {
            return false;
        };
        shared
            .db
            .conn()
            .and_then(|mut c| cluster::is_running(&mut *c, name))
            .unwrap_or(false)
    }

    /// Ends the entries of connection `owner`; returns them.
    pub(super) fn release(&self, owner: u64) -> Vec<RunningModule> {
        let gone = lock(&self.registry).release(owner);
        if let (Some(shared), false) = (&self.shared, gone.is_empty()) {
            let released = shared
                .db
                .conn()
                .and_then(|mut c| cluster::release(&mut *c, shared.process, owner));
            shared.invalidate();
            if let Err(e) = released {
                log::warn!("modules of connection {owner}: shared entries stay until the table is written again: {e}");
                shared.unsynced.store(true, SeqCst);
            }
        }
        gone
    }

    /// Every process's running modules, by name (this process's, if the
    /// database cannot say).
    pub fn running_modules(&self) -> Vec<RunningModule> {
        let Some(shared) = &self.shared else {
            return lock(&self.registry).list();
        };
        match shared.list() {
            Ok(modules) => modules,
            Err(e) => {
                log::warn!("running modules of other processes unknown: {e}");
                lock(&self.registry).list()
            }
        }
    }

    /// `true` the first time `(origin, resolve_id)` is used within the hour
    /// by any process: this process's memory first (a repeat here costs no
    /// round trip), then the shared table.
    pub(super) fn first_use(&self, origin: &str, resolve_id: &str) -> bool {
        if !self.replay.first_use(origin, resolve_id, Instant::now()) {
            return false;
        }
        let Some(shared) = &self.shared else {
            return true;
        };
        let now = unix_now();
        let key = super::replay::key(origin, resolve_id) as i64;
        if shared.alone.load(SeqCst) && shared.record_later(key, now) {
            return true;
        }
        match shared
            .db
            .conn()
            .and_then(|mut c| cluster::first_use(&mut *c, key, now))
        {
            Ok(first) => first,
            Err(e) => {
                log::warn!("replay check of '{origin}' made by this process alone: {e}");
                true
            }
        }
    }

    /// Another process announced a change to its modules (or the
    /// announcements may have been missed): the next list is read afresh.
    pub fn modules_changed(&self) {
        if let Some(shared) = &self.shared {
            shared.invalidate();
        }
    }

    /// Process `process` announced itself or its modules: if it is another
    /// one, this process is not alone (from this check on).
    pub fn process_seen(&self, process: i32) {
        if let Some(shared) = &self.shared {
            if process != shared.process && shared.alone.swap(false, SeqCst) {
                log::info!("another platform process is alive: replay checks ask the database");
            }
        }
    }

    /// How many processes are alive, as the heartbeat counted them
    /// (`i64::MAX` when it cannot tell: others' starts may go unheard).
    pub fn processes_alive(&self, count: i64) {
        if let Some(shared) = &self.shared {
            shared.alone.store(count <= 1, SeqCst);
        }
    }

    /// Writes this process's entries again if a write failed since the
    /// last time (called every few seconds by `db-listen`).
    pub fn resync_if_needed(&self) {
        if let Some(shared) = &self.shared {
            if shared.unsynced.load(SeqCst) {
                self.republish();
            }
        }
    }

    /// Makes the table hold exactly this process's registry: after the
    /// listening connection came back (another process may have reaped
    /// this one meanwhile), or after a failed write (a release that did
    /// not reach the database would leave a module listed, and its next
    /// start from another process `already_running`).
    pub fn republish(&self) {
        let Some(shared) = &self.shared else { return };
        shared.unsynced.store(false, SeqCst);
        let entries = lock(&self.registry).owned();
        let failed = |e: crate::db::DbError| {
            shared.unsynced.store(true, SeqCst);
            log::warn!("running modules not written again: {e}");
        };
        let mut conn = match shared.db.conn() {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let owned = owned_names(&entries);
        match cluster::keep_only(&mut *conn, shared.process, &owned) {
            Ok(0) => {}
            Ok(n) => log::info!("running modules: {n} stale entries of this process removed"),
            Err(e) => return failed(e),
        }
        shared.invalidate();
        for (m, owner) in entries {
            let entry = Entry {
                module: &m.name,
                process: shared.process,
                conn: owner,
                port: m.port,
                url: m.url.as_deref(),
                now: unix_now(),
            };
            match cluster::claim(&mut *conn, &entry) {
                Ok(Claim::Held) => {}
                Ok(Claim::Taken) => log::warn!(
                    "module '{}' is registered by another process too; the other is listed",
                    m.name
                ),
                Err(e) => return failed(e),
            }
        }
        // A start or an end meanwhile may have been undone by `keep_only`:
        // the next round writes the table again.
        if owned_names(&lock(&self.registry).owned()) != owned {
            shared.unsynced.store(true, SeqCst);
        }
    }
}

/// The names and owning connections of `entries`, in a fixed order.
fn owned_names(entries: &[(RunningModule, u64)]) -> Vec<(String, u64)> {
    let mut owned: Vec<(String, u64)> = entries.iter().map(|(m, o)| (m.name.clone(), *o)).collect();
    owned.sort();
    owned
}

/// Starts `replay-writer`, which writes queued ids to `hub_replay` in
/// batches; `None` (checks then ask the table) if the thread cannot start.
fn start_replay_writer(db: Arc<Db>) -> Option<Sender<Replayed>> {
    let (tx, rx) = crossbeam_channel::bounded(REPLAY_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("replay-writer".into())
        .spawn(move || write_replays(&db, &rx));
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            log::warn!("replay-writer not started ({e}): every replay check asks the database");
            None
        }
    }
}

fn write_replays(db: &Db, rx: &Receiver<Replayed>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let until = Instant::now() + REPLAY_BATCH_WAIT;
        while batch.len() < REPLAY_BATCH_MAX {
            match rx.recv_deadline(until) {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let written = db
            .conn()
            .and_then(|mut c| cluster::record_replays(&mut *c, &batch));
        if let Err(e) = written {
            log::warn!("{} replay ids kept in this process only: {e}", batch.len());
        }
    }
}
