//! The `audit` thread: takes entries off a bounded channel and writes them
//! in batches, one statement each. While PostgreSQL is away it keeps what
//! it holds and tries again with a growing pause; on a clean stop it writes
//! everything still queued before the process exits.

use super::Entry;
use crate::db::audit::{insert, Event};
use crate::db::Db;
use crate::lock::lock;
use crate::metrics::METRICS;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries written by one statement at most.
const BATCH: usize = 500;
/// Entries held while the database is away, beyond those queued.
const MAX_PENDING: usize = 100_000;
/// Pauses between attempts while the database is away.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(10);

enum Msg {
    Entry(Box<Entry>),
    Stop,
}

/// The handle every recorder holds (one, in `Ctx`).
pub struct Audit {
    tx: Sender<Msg>,
    /// Hears once when the thread has written its last batch.
    finished: Mutex<Option<Receiver<()>>>,
}

impl Audit {
    /// Starts the `audit` thread; `queue` entries may wait for it.
    pub fn start(db: Arc<Db>, queue: usize) -> std::io::Result<Audit> {
        let (tx, rx) = bounded(queue);
        let (done_tx, done_rx) = bounded(1);
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                Writer::new(db).run(&rx);
                let _ = done_tx.send(());
            })?;
        Ok(Audit {
            tx,
            finished: Mutex::new(Some(done_rx)),
        })
    }

    /// Queues `entry`; never waits. A full queue (the database away for
    /// long under heavy use) drops it, counted and logged.
    pub fn record(&self, entry: Entry) {
        match self.tx.try_send(Msg::Entry(Box::new(entry))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                if METRICS.audit_dropped.get() % 1000 == 0 {
                    log::warn!("audit: queue full, entries dropped");
                }
                METRICS.audit_dropped.inc();
            }
        }
    }

    /// Asks the thread to write what it holds and waits for it up to
    /// `wait`; later entries are dropped. Called once, at a clean stop.
    pub fn finish(&self, wait: Duration) {
        let started = Instant::now();
        if self.tx.send_timeout(Msg::Stop, wait).is_err() {
            log::warn!("audit: the writer did not take the stop in time");
            return;
        }
        let Some(done) = lock(&self.finished).take() else {
            return;
        };
        let left = wait.saturating_sub(started.elapsed());
        if done.recv_timeout(left).is_err() {
            log::warn!("audit: entries still unwritten at exit");
        }
    }
}

struct Writer {
    db: Arc<Db>,
    pending: Vec<Event>,
    retry: Duration,
}

impl Writer {
    fn new(db: Arc<Db>) -> Writer {
        Writer {
            db,
            pending: Vec::new(),
            retry: FIRST_RETRY,
        }
    }

    /// Until the stop: wait for entries (or, holding some, for the next
    /// attempt), take what else is queued, write.
    fn run(&mut self, rx: &Receiver<Msg>) {
        loop {
            let first = if self.pending.is_empty() {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                rx.recv_timeout(self.retry)
            };
            let stopping = match first {
                Ok(Msg::Entry(e)) => self.take(*e, rx),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            if stopping {
                self.drain(rx);
                self.write_all();
                self.give_up();
                return;
            }
            self.write_all();
        }
    }

    /// Holds `first` and whatever else is queued now; true if a stop came.
    fn take(&mut self, first: Entry, rx: &Receiver<Msg>) -> bool {
        self.hold(first);
        while self.pending.len() < BATCH * 4 {
            match rx.try_recv() {
                Ok(Msg::Entry(e)) => self.hold(*e),
                Ok(Msg::Stop) => return true,
                Err(_) => break,
            }
        }
        false
    }

    fn drain(&mut self, rx: &Receiver<Msg>) {
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Entry(e) = msg {
                self.hold(*e);
            }
        }
    }

    fn hold(&mut self, entry: Entry) {
        if self.pending.len() >= MAX_PENDING {
            METRICS.audit_dropped.inc();
            return;
        }
        self.pending.push(entry.into_event());
    }

    /// Writes held entries a batch at a time, oldest first; on a failure
    /// keeps the rest for the next attempt and lengthens the pause.
    fn write_all(&mut self) {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            let written = self
                .db
                .conn()
                .and_then(|mut c| insert(&mut *c, &self.pending[..n]));
            match written {
                Ok(_) => {
                    self.pending.drain(..n);
                    METRICS.audit_written.add(n as u64);
                    self.retry = FIRST_RETRY;
                }
                Err(e) => {
                    if self.retry == FIRST_RETRY {
                        log::warn!(
                            "audit: {} entries wait for the database: {e}",
                            self.pending.len()
                        );
                    }
                    self.retry = (self.retry * 2).min(LAST_RETRY);
                    return;
                }
            }
        }
    }

    fn give_up(&mut self) {
        if !self.pending.is_empty() {
            log::warn!("audit: {} entries unwritten at exit", self.pending.len());
            METRICS.audit_dropped.add(self.pending.len() as u64);
        }
    }
}
