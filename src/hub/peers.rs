//! The open module connections, for broadcasts and module-to-module messages.
//!
//! Each connection has a bounded queue and an eventfd: a sender appends to
//! the queue and signals the eventfd, which wakes the connection's poll loop
//! at once. A sender never waits for a connection; a connection whose queue
//! is full is stuck and gets kicked (it closes itself on waking).
//!
//! Until its first valid envelope a connection hears nothing. If its
//! handshake named a module that has a key, broadcasts are held for it
//! meanwhile (bounded in number and age) and handed to its session when it
//! authenticates as that module, to be sent before the reply: an original
//! client that reconnects and signs only when it needs to would otherwise
//! miss every login and logout in between. The hold and the queue share
//! one lock, so that no broadcast can slip between the held ones and the
//! ones queued after.

use super::events::{Audience, Event, Protocol};
use crate::config::ModulePermissions;
use crate::lock::lock;
use crate::metrics::METRICS;
use rustix::event::{eventfd, EventfdFlags};
use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tungstenite::Utf8Bytes;

/// How many broadcasts are held for a connection not signed in yet, and
/// for how long.
#[derive(Clone, Copy)]
pub struct HoldLimits {
    pub messages: usize,
    pub age: Duration,
}

enum Stage {
    /// Not authenticated, or authenticated but the held broadcasts not yet
    /// handed over.
    Pending(VecDeque<(Instant, Arc<Event>)>),
    Live,
}

struct Outbox {
    queue: VecDeque<Utf8Bytes>,
    stage: Stage,
    hold_overflowed: bool,
}

pub struct Peer {
    pub id: u64,
    /// The id of this connection in the log (`conn_id`), also on lines
    /// about it that other threads write.
    pub conn_id: String,
    /// Set once, when the connection's first valid envelope names it.
    pub module: OnceLock<String>,
    /// The module the handshake named, if it has a key: broadcasts are held
    /// for it until it signs.
    pub named: Option<String>,
    v2: AtomicBool,
    outbox: Mutex<Outbox>,
    capacity: usize,
    hold: HoldLimits,
    wake: OwnedFd,
    kicked: AtomicBool,
    /// The platform is stopping: close with 1001 so the module reconnects.
    leaving: AtomicBool,
}

impl Peer {
    pub fn wake_fd(&self) -> &OwnedFd {
        &self.wake
    }

    pub fn protocol(&self) -> Protocol {
        match self.v2.load(Ordering::SeqCst) {
            true => Protocol::V2,
            false => Protocol::Original,
        }
    }

    pub fn set_protocol(&self, protocol: Protocol) {
        self.v2.store(protocol == Protocol::V2, Ordering::SeqCst);
    }

    /// How this connection renders messages now.
    pub fn audience<'a>(&self, permissions: &'a ModulePermissions) -> Option<Audience<'a>> {
        let module = self.module.get()?;
        Some(Audience {
            protocol: self.protocol(),
            peer: self.id,
            permission: permissions.of(module),
        })
    }

    /// Queues a message; a full queue kicks the connection instead.
    pub fn push(&self, msg: Utf8Bytes) -> bool {
        let queued = {
            let mut out = lock(&self.outbox);
            if out.queue.len() < self.capacity {
                out.queue.push_back(msg);
                true
            } else {
                false
            }
        };
        self.after_push(queued);
        queued
    }

    fn after_push(&self, queued: bool) {
        if !queued && !self.kicked.swap(true, Ordering::SeqCst) {
            log::warn!(
                conn_id = self.conn_id.as_str();
                "module {} does not keep up (queue full), disconnecting",
                self.name()
            );
        }
        self.signal();
    }

    /// Queues `event` as this connection renders it, or holds it while the
    /// connection has not signed in.
    fn deliver(&self, event: &Arc<Event>, permissions: &ModulePermissions) {
        if self.module.get().is_none() && self.named.is_none() {
            return;
        }
        let rendered = self.audience(permissions).and_then(|to| event.render(&to));
        let queued = {
            let mut guard = lock(&self.outbox);
            let out = &mut *guard;
            match &mut out.stage {
                Stage::Pending(held) => {
                    METRICS.broadcasts_held.inc();
                    let overflowed = hold(held, event, self.hold);
                    if overflowed {
                        METRICS.broadcasts_dropped.inc();
                    }
                    if overflowed && !out.hold_overflowed {
                        out.hold_overflowed = true;
                        let named = self.named.as_deref().unwrap_or("?");
                        log::warn!(
                            conn_id = self.conn_id.as_str();
                            "broadcasts held for '{named}' over the cap, oldest dropped"
                        );
                    }
                    return;
                }
                Stage::Live => match rendered {
                    None => return,
                    Some(_) if out.queue.len() >= self.capacity => {
                        METRICS.broadcasts_dropped.inc();
                        false
                    }
                    Some(text) => {
                        METRICS.broadcasts_sent.inc();
                        out.queue.push_back(Utf8Bytes::from(text));
                        true
                    }
                },
            }
        };
        self.after_push(queued);
    }

    /// Ends the hold once the connection has authenticated as `module`:
    /// returns what was held, still fresh, if the handshake named that
    /// module; from now on broadcasts are queued.
    pub fn release(&self, module: &str) -> Vec<Arc<Event>> {
        let held = {
            let mut out = lock(&self.outbox);
            match std::mem::replace(&mut out.stage, Stage::Live) {
                Stage::Pending(held) => held,
                Stage::Live => return Vec::new(),
            }
        };
        if self.named.as_deref().is_some_and(|n| n != module) {
            log::info!(
                "connection {} signed as another module than it named, held broadcasts dropped",
                self.id
            );
            return Vec::new();
        }
        let now = Instant::now();
        held.into_iter()
            .filter(|(at, _)| now.duration_since(*at) < self.hold.age)
            .map(|(_, e)| e)
            .collect()
    }

    /// Asks the connection to close (key removed, queue overflow).
    pub fn kick(&self) {
        self.kicked.store(true, Ordering::SeqCst);
        self.signal();
    }

    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::SeqCst)
    }

    /// Whether the platform is stopping (see `Peers::go_away`).
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::SeqCst)
    }

    /// The oldest queued message.
    pub fn pop(&self) -> Option<Utf8Bytes> {
        lock(&self.outbox).queue.pop_front()
    }

    pub fn has_queued(&self) -> bool {
        !lock(&self.outbox).queue.is_empty()
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

/// Holds `event`, dropping held ones past their age and, at the cap, the
/// oldest; `true` if one was dropped for the cap.
fn hold(
    held: &mut VecDeque<(Instant, Arc<Event>)>,
    event: &Arc<Event>,
    limits: HoldLimits,
) -> bool {
    let now = Instant::now();
    while held
        .front()
        .is_some_and(|(at, _)| now.duration_since(*at) >= limits.age)
    {
        held.pop_front();
    }
    if limits.messages == 0 {
        return false;
    }
    let overflowed = held.len() >= limits.messages;
    if overflowed {
        held.pop_front();
    }
    held.push_back((now, event.clone()));
    overflowed
}

#[derive(Default)]
pub struct Peers {
    next_id: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Peer>>>,
}

impl Peers {
    /// Adds connection `conn_id` with a queue of `capacity` messages; `named` is
    /// the module its handshake named, if that module has a key.
    pub fn add(
        &self,
        conn_id: String,
        capacity: usize,
        named: Option<String>,
        hold: HoldLimits,
    ) -> std::io::Result<Arc<Peer>> {
        let wake = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        let peer = Arc::new(Peer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            conn_id,
            module: OnceLock::new(),
            named,
            v2: AtomicBool::new(false),
            outbox: Mutex::new(Outbox {
                queue: VecDeque::new(),
                stage: Stage::Pending(VecDeque::new()),
                hold_overflowed: false,
            }),
            capacity,
            hold,
            wake,
            kicked: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
        });
        lock(&self.map).insert(peer.id, peer.clone());
        Ok(peer)
    }

    pub fn remove(&self, id: u64) {
        lock(&self.map).remove(&id);
    }

    /// The signed connections, and the distinct modules they signed as.
    pub fn signed(&self) -> (usize, usize) {
        let map = lock(&self.map);
        let mut names: Vec<&str> = map
            .values()
            .filter_map(|p| p.module.get())
            .map(String::as_str)
            .collect();
        let connections = names.len();
        names.sort_unstable();
        names.dedup();
        (connections, names.len())
    }

    /// The connections matching `filter`, copied out so that no lock is
    /// held while messages are queued.
    fn matching(&self, filter: impl Fn(&Peer) -> bool) -> Vec<Arc<Peer>> {
        lock(&self.map)
            .values()
            .filter(|p| filter(p))
            .cloned()
            .collect()
    }

    /// Tells every connection of `event`, each in its own way.
    pub fn broadcast(&self, event: Event, permissions: &ModulePermissions) {
        let event = Arc::new(event);
        for peer in self.matching(|_| true) {
            peer.deliver(&event, permissions);
        }
    }

    /// Sends `json` to the connections authenticated as `module`; `false`
    /// when there is none.
    pub fn send_to(&self, module: &str, json: String) -> bool {
        let targets = self.matching(|p| p.module.get().is_some_and(|m| m == module));
        let msg = Utf8Bytes::from(json);
        // Every target gets the message, so no short-circuiting `any`.
        let mut sent = false;
        for peer in &targets {
            sent |= peer.push(msg.clone());
        }
        sent
    }

    /// Asks every connection to close with 1001 (going away); each is
    /// woken once.
    pub fn go_away(&self) {
        for peer in self.matching(|p| !p.leaving.load(Ordering::SeqCst)) {
            peer.leaving.store(true, Ordering::SeqCst);
            peer.signal();
        }
    }

    /// Kicks every connection authenticated as one of `modules`.
    pub fn kick_modules(&self, modules: &[String]) {
        for peer in self.matching(|p| p.module.get().is_some_and(|m| modules.contains(m))) {
            log::info!(
                conn_id = peer.conn_id.as_str();
                "module {} lost its key, disconnecting",
                peer.name()
            );
            peer.kick();
        }
    }
}
