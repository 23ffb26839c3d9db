//! The readiness probe: does PostgreSQL answer a trivial statement within a
//! short deadline? Asked by `GET /readyz`, which must answer within a second
//! even when the server hangs (stopped, or a network that drops packets),
//! and a hung connection blocks its thread with no deadline of ours.
//!
//! So the statement runs on a thread of its own and the caller waits for it
//! only `limit`; at most one probe runs at a time, and while a stuck one
//! runs every caller hears "not ready" at once (no thread per request).

use super::{Db, DbError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Why the database is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// No connection, or the statement failed.
    Unavailable,
    /// No answer within the deadline (or an earlier probe is still stuck).
    Timeout,
}

/// Whether a probe thread is running (shared with it).
#[derive(Default)]
pub struct Probe {
    running: Arc<AtomicBool>,
}

impl Db {
    /// Runs `SELECT 1` on a pooled connection; `Ok` if it answered within
    /// `limit`.
    pub fn ready_within(&self, limit: Duration) -> Result<(), NotReady> {
        let running = self.probe.running.clone();
        if running.swap(true, Ordering::AcqRel) {
            return Err(NotReady::Timeout);
        }
        let pool = self.pool.clone();
        let (tx, rx) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("db-probe".into())
            .spawn(move || {
                let answer = select_one(&pool, limit);
                running.store(false, Ordering::Release);
                let _ = tx.send(answer);
            });
        if spawned.is_err() {
            self.probe.running.store(false, Ordering::Release);
            return Err(NotReady::Unavailable);
        }
        match rx.recv_timeout(limit) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                log::debug!("readiness: {e}");
                Err(NotReady::Unavailable)
            }
            Err(_) => Err(NotReady::Timeout),
        }
    }
}

fn select_one(
    pool: &r2d2::Pool<r2d2_postgres::PostgresConnectionManager<postgres::NoTls>>,
    limit: Duration,
) -> Result<(), DbError> {
    let mut conn = pool.get_timeout(limit)?;
    conn.simple_query("SELECT 1")?;
    Ok(())
}
