//! Connections to tiny_http, kept for the next client connection.
//!
//! Why: tiny_http runs each of its connections on a pool thread, and its
//! pool lets an idle thread go only after five seconds in which no new
//! connection woke it. A new connection for every client connection (a
//! browser's, a probe's every few hundred milliseconds) kept every thread
//! that a burst had started alive. Handing a finished client connection's
//! backend connection to the next client means tiny_http sees new
//! connections only when more clients are active at once than before, and
//! its idle threads go.
//!
//! A backend connection is only kept when it is between requests with
//! nothing unread (see `Bridge::reusable`); every request carries its own
//! `x-sse-peer`, so nothing of one client reaches the next.

use crate::lock::lock;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Idle backend connections kept at most; each holds a tiny_http thread.
const MAX_IDLE: usize = 8;
/// How long an idle backend connection is kept.
const KEEP_IDLE: Duration = Duration::from_secs(2);

/// A connection to tiny_http, and whether tiny_http has answered on it
/// before (then a thread of its pool serves it; see `Bridge::poke_if_stuck`).
pub struct Backend {
    pub stream: UnixStream,
    pub answered_before: bool,
}

pub struct Backends {
    path: Arc<Path>,
    idle: Mutex<Vec<(UnixStream, Instant)>>,
    /// Signalled when a connection is kept, for the sweeper.
    kept: Condvar,
}

impl Backends {
    /// The backend connections of tiny_http at `path`, with the thread that
    /// closes those kept idle for too long (`backend-sweep`; it sleeps while
    /// none are kept).
    pub fn start(path: Arc<Path>) -> io::Result<Arc<Backends>> {
        let backends = Arc::new(Backends {
            path,
            idle: Mutex::new(Vec::new()),
            kept: Condvar::new(),
        });
        let sweeper = backends.clone();
        std::thread::Builder::new()
            .name("backend-sweep".into())
            .spawn(move || sweeper.sweep_forever())?;
        Ok(backends)
    }

    /// Closes kept connections once they have been idle for `KEEP_IDLE`,
    /// so that tiny_http's threads go when the traffic does.
    fn sweep_forever(&self) {
        loop {
            let expired = {
                let mut idle = lock(&self.idle);
                while idle.is_empty() {
                    idle = self.kept.wait(idle).unwrap_or_else(PoisonError::into_inner);
                }
                let oldest = idle.iter().map(|(_, since)| *since).min();
                let due = oldest.map_or_else(Instant::now, |t| t + KEEP_IDLE);
                let wait = due.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    idle = self
                        .kept
                        .wait_timeout(idle, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                take_expired(&mut idle)
            };
            drop(expired);
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A non-blocking connection to tiny_http: the most recently kept one
    /// that is still sound, or a new one.
    pub fn take(&self) -> io::Result<Backend> {
        let (reused, expired) = {
            let mut idle = lock(&self.idle);
            let expired = take_expired(&mut idle);
            (idle.pop(), expired)
        };
        // Closed outside the lock (no lock is held across I/O).
        drop(expired);
        match reused {
            Some((stream, _)) if sound(&stream) => Ok(Backend {
                stream,
                answered_before: true,
            }),
            _ => {
                let stream = UnixStream::connect(&*self.path)?;
                stream.set_nonblocking(true)?;
                Ok(Backend {
                    stream,
                    answered_before: false,
                })
            }
        }
    }

    /// Keeps a connection that is between requests for the next client.
    pub fn give_back(&self, stream: UnixStream) {
        let rest = {
            let mut idle = lock(&self.idle);
            let mut rest = take_expired(&mut idle);
            if idle.len() < MAX_IDLE {
                idle.push((stream, Instant::now()));
            } else {
                rest.push((stream, Instant::now()));
            }
            rest
        };
        self.kept.notify_one();
        drop(rest);
    }
}

fn take_expired(idle: &mut Vec<(UnixStream, Instant)>) -> Vec<(UnixStream, Instant)> {
    let now = Instant::now();
    let (keep, expired) = std::mem::take(idle)
        .into_iter()
        .partition(|(_, since)| now.duration_since(*since) < KEEP_IDLE);
    *idle = keep;
    expired
}

/// Nothing to read and not closed: an idle backend connection that tiny_http
/// has ended, or one with stray bytes, must not carry a request.
fn sound(stream: &UnixStream) -> bool {
    let mut fds = [crate::net::poll::watch(stream, true, false)];
    crate::net::poll::wait(&mut fds, Duration::ZERO).is_ok() && fds[0].revents().is_empty()
}
