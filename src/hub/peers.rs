//! The open module connections, for broadcasts and module-to-module messages.
//!
//! Each connection has a bounded queue and an eventfd: a sender appends to
//! the queue and signals the eventfd, which wakes the connection's poll loop
//! at once. A sender never waits for a connection; a connection whose queue
//! is full is stuck and gets kicked (it closes itself on waking).

use crate::sync::lock;
use rustix::event::{eventfd, EventfdFlags};
use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tungstenite::Utf8Bytes;

pub struct Peer {
    pub id: u64,
    /// Set once, when the connection's first valid envelope names it.
    pub module: OnceLock<String>,
    queue: Mutex<VecDeque<Utf8Bytes>>,
    capacity: usize,
    wake: OwnedFd,
    kicked: AtomicBool,
}

impl Peer {
    pub fn wake_fd(&self) -> &OwnedFd {
        &self.wake
    }

    /// Queues a message; a full queue kicks the connection instead.
    pub fn push(&self, msg: Utf8Bytes) -> bool {
        let queued = {
            let mut q = lock(&self.queue);
            if q.len() < self.capacity {
                q.push_back(msg);
                true
            } else {
                false
            }
        };
        if !queued && !self.kicked.swap(true, Ordering::SeqCst) {
            log::warn!(
                "module {} does not keep up (queue full), disconnecting",
                self.name()
            );
        }
        self.signal();
        queued
    }

    /// Asks the connection to close (key removed, queue overflow).
    pub fn kick(&self) {
        self.kicked.store(true, Ordering::SeqCst);
        self.signal();
    }

    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::SeqCst)
    }

    /// The oldest queued message.
    pub fn pop(&self) -> Option<Utf8Bytes> {
        lock(&self.queue).pop_front()
    }

    pub fn has_queued(&self) -> bool {
        !lock(&self.queue).is_empty()
    }

    /// Clears the eventfd after a wake-up.
    pub fn clear_signal(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.wake, &mut buf);
    }

    fn signal(&self) {
        // A full counter (impossible in practice) or EAGAIN still leaves the
        // eventfd readable, which is all a wake-up needs.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    pub fn name(&self) -> &str {
        self.module
            .get()
            .map_or("(unauthenticated)", String::as_str)
    }
}

#[derive(Default)]
pub struct Peers {
    next_id: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Peer>>>,
}

impl Peers {
    /// Adds a connection with a queue of `capacity` messages.
    pub fn add(&self, capacity: usize) -> std::io::Result<Arc<Peer>> {
        let wake = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        let peer = Arc::new(Peer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            module: OnceLock::new(),
            queue: Mutex::new(VecDeque::new()),
            capacity,
            wake,
            kicked: AtomicBool::new(false),
        });
        lock(&self.map).insert(peer.id, peer.clone());
        Ok(peer)
    }

    pub fn remove(&self, id: u64) {
        lock(&self.map).remove(&id);
    }

    /// The authenticated connections matching `filter`, copied out so that
    /// no lock is held while messages are queued.
    fn authenticated(&self, filter: impl Fn(&Peer) -> bool) -> Vec<Arc<Peer>> {
        lock(&self.map)
            .values()
            .filter(|p| p.module.get().is_some() && filter(p))
            .cloned()
            .collect()
    }

    /// Sends `json` to every authenticated connection except `except`.
    pub fn broadcast(&self, json: &str, except: Option<u64>) {
        let msg = Utf8Bytes::from(json.to_owned());
        for peer in self.authenticated(|p| Some(p.id) != except) {
            peer.push(msg.clone());
        }
    }

    /// Sends `json` to the connections authenticated as `module`; `false`
    /// when there is none.
    pub fn send_to(&self, module: &str, json: String) -> bool {
        let targets = self.authenticated(|p| p.module.get().is_some_and(|m| m == module));
        let msg = Utf8Bytes::from(json);
        // Every target gets the message, so no short-circuiting `any`.
        let mut sent = false;
        for peer in &targets {
            sent |= peer.push(msg.clone());
        }
        sent
    }

    /// Kicks every connection authenticated as one of `modules`.
    pub fn kick_modules(&self, modules: &[String]) {
        for peer in self.authenticated(|p| p.module.get().is_some_and(|m| modules.contains(m))) {
            log::info!("module {} lost its key, disconnecting", peer.name());
            peer.kick();
        }
    }

    pub fn count(&self) -> usize {
        lock(&self.map).len()
    }
}
