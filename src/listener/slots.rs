//! The open connections: counted in total and per client address, each
//! with what it is doing now, so that at the global cap room can be made by
//! closing the connections that have done the least.
//!
//! Why evict instead of refusing: a few addresses, each under the
//! per-address cap, could otherwise fill the global cap with idle or
//! half-open connections and lock everyone else out. At the cap, a new
//! connection takes the place of one still in its TLS handshake or first
//! bytes, an idle keep-alive one, or an unauthenticated module, taken from
//! the address that holds the most connections, least progressed and
//! oldest first (nginx reuses idle keep-alive connections the same way). A
//! request in progress or an authenticated module is never closed for it.

use crate::lock::lock;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What a connection is doing; the order is how much it has done, and
/// those before `Body` are closed first to make room, `Body` last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// TLS handshake or the first request head.
    Opening = 0,
    /// Part of a later request head has arrived.
    Head = 1,
    /// Between requests, nothing sent.
    Idle = 2,
    /// Answered; the client has not taken the whole answer yet.
    Draining = 3,
    /// A module connection that has not signed anything yet.
    UnauthenticatedModule = 4,
    /// A request body still arriving (bounded by its own deadline).
    Body = 5,
    /// A request is being answered.
    Busy = 6,
    /// An authenticated module.
    Module = 7,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Opening,
            1 => Phase::Head,
            2 => Phase::Idle,
            3 => Phase::Draining,
            4 => Phase::UnauthenticatedModule,
            5 => Phase::Body,
            6 => Phase::Busy,
            _ => Phase::Module,
        }
    }

    fn evictable(self) -> bool {
        self < Phase::Busy
    }
}

/// Limits on open connections.
pub struct Slots {
    max: usize,
    max_per_ip: usize,
    next_id: AtomicU64,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    open: HashMap<u64, Entry>,
    per_ip: HashMap<IpAddr, usize>,
}

struct Entry {
    ip: IpAddr,
    opened: Instant,
    phase: Arc<AtomicU8>,
    /// The connection's socket, to close it when evicted.
    socket: Arc<TcpStream>,
}

/// Whether the address is held to the per-address cap (a trusted proxy
/// carries many clients and is not).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PerAddress {
    Capped,
    Uncapped,
}

/// A connection's place under the caps, given back when dropped (also when
/// its thread panics).
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    phase: Arc<AtomicU8>,
}

impl Slot {
    /// Records what the connection is doing (a relaxed store: eviction
    /// only needs a recent value).
    pub fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }
}

impl Slots {
    pub fn new(max: usize, max_per_ip: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            max_per_ip,
            next_id: AtomicU64::new(0),
            table: Mutex::new(Table::default()),
        })
    }

    /// A place for a new connection from `ip`, closing another connection
    /// at the global cap if one may be closed; `None` when there is no room.
    pub fn acquire(
        slots: &Arc<Slots>,
        ip: IpAddr,
        rule: PerAddress,
        socket: Arc<TcpStream>,
    ) -> Option<Slot> {
        let mut table = lock(&slots.table);
        let from_ip = table.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= slots.max_per_ip && rule == PerAddress::Capped {
            return None;
        }
        if table.open.len() >= slots.max {
            let victim = table.victim()?;
            table.evict(victim);
        }
        let id = slots.next_id.fetch_add(1, Ordering::Relaxed);
        let phase = Arc::new(AtomicU8::new(Phase::Opening as u8));
        table.open.insert(
            id,
            Entry {
                ip,
                opened: Instant::now(),
                phase: phase.clone(),
                socket,
            },
        );
        *table.per_ip.entry(ip).or_insert(0) += 1;
        Some(Slot {
            slots: slots.clone(),
            id,
            phase,
        })
    }

    /// Open connections, in total.
    pub fn open(&self) -> usize {
        lock(&self.table).open.len()
    }

    /// For a stop: closes the connections idle between requests and counts
    /// those that still carry something (a request arriving or answered, a
    /// module); a connection still in its handshake counts as arriving.
    pub fn close_idle(&self) -> usize {
        let mut table = lock(&self.table);
        let idle: Vec<u64> = table
            .open
            .iter()
            .filter(|(_, e)| Phase::from_u8(e.phase.load(Ordering::Relaxed)) == Phase::Idle)
            .map(|(&id, _)| id)
            .collect();
        for id in idle {
            if let Some(entry) = table.remove(id) {
                let _ = entry.socket.shutdown(Shutdown::Both);
            }
        }
        table.open.len()
    }
}

impl Table {
    /// The connection to close for room: from the address with the most
    /// connections that has one that may be closed, the least progressed,
    /// oldest first.
    fn victim(&self) -> Option<u64> {
        let mut best: Option<(
            usize,
            std::cmp::Reverse<Phase>,
            std::cmp::Reverse<Instant>,
            u64,
        )> = None;
        for (&id, entry) in &self.open {
            let phase = Phase::from_u8(entry.phase.load(Ordering::Relaxed));
            if !phase.evictable() {
                continue;
            }
            let held = self.per_ip.get(&entry.ip).copied().unwrap_or(0);
            let key = (
                held,
                std::cmp::Reverse(phase),
                std::cmp::Reverse(entry.opened),
                id,
            );
            if best.as_ref().is_none_or(|b| key > *b) {
                best = Some(key);
            }
        }
        best.map(|(_, _, _, id)| id)
    }

    fn evict(&mut self, id: u64) {
        if let Some(entry) = self.remove(id) {
            log::info!("{} connection closed to make room", entry.ip);
            // Its thread sees the end of the stream and finishes; its slot
            // finds nothing left to give back.
            let _ = entry.socket.shutdown(Shutdown::Both);
        }
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if let Some(n) = self.per_ip.get_mut(&entry.ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&entry.ip);
            }
        }
        Some(entry)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.slots.table).remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Real connected sockets, so that eviction can shut one down.
    struct Sockets {
        listener: TcpListener,
        accepted: Vec<TcpStream>,
    }

    impl Sockets {
        fn new() -> Sockets {
            Sockets {
                listener: TcpListener::bind("127.0.0.1:0").unwrap(),
                accepted: Vec::new(),
            }
        }

        /// Our end of a new connection; the peer end is kept open.
        fn next(&mut self) -> Arc<TcpStream> {
            let ours = TcpStream::connect(self.listener.local_addr().unwrap()).unwrap();
            self.accepted.push(self.listener.accept().unwrap().0);
            Arc::new(ours)
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_count_total_and_per_ip() {
        let mut s = Sockets::new();
        let slots = Slots::new(3, 2);
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let a1 = Slots::acquire(&slots, a, PerAddress::Capped, s.next()).unwrap();
        let a2 = Slots::acquire(&slots, a, PerAddress::Capped, s.next()).unwrap();
        assert!(Slots::acquire(&slots, a, PerAddress::Capped, s.next()).is_none());
        let b1 = Slots::acquire(&slots, b, PerAddress::Capped, s.next()).unwrap();
        for slot in [&a1, &a2, &b1] {
            slot.set(Phase::Busy);
        }
        assert!(
            Slots::acquire(&slots, b, PerAddress::Capped, s.next()).is_none(),
            "global cap, nothing may be closed"
        );
        drop(a1);
        assert!(Slots::acquire(&slots, b, PerAddress::Capped, s.next()).is_some());
    }

    #[test]
    fn a_proxy_is_held_only_to_the_total_cap() {
        let mut s = Sockets::new();
        let slots = Slots::new(3, 1);
        let proxy = ip("10.0.0.9");
        let held: Vec<Slot> = (0..3)
            .map(|_| Slots::acquire(&slots, proxy, PerAddress::Uncapped, s.next()).unwrap())
            .collect();
        held.iter().for_each(|slot| slot.set(Phase::Busy));
        assert!(Slots::acquire(&slots, proxy, PerAddress::Uncapped, s.next()).is_none());
    }

    #[test]
    fn at_the_cap_the_least_progressed_of_the_biggest_holder_is_closed() {
        let mut s = Sockets::new();
        let slots = Slots::new(4, 10);
        let (a, b, c) = (ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3"));
        let a_busy = Slots::acquire(&slots, a, PerAddress::Capped, s.next()).unwrap();
        a_busy.set(Phase::Busy);
        let a_idle = Slots::acquire(&slots, a, PerAddress::Capped, s.next()).unwrap();
        a_idle.set(Phase::Idle);
        let a_module = Slots::acquire(&slots, a, PerAddress::Capped, s.next()).unwrap();
        a_module.set(Phase::Module);
        let b_opening = Slots::acquire(&slots, b, PerAddress::Capped, s.next()).unwrap();
        // b's connection did less, but a holds more: a's idle one goes.
        let c1 = Slots::acquire(&slots, c, PerAddress::Capped, s.next()).unwrap();
        assert_eq!(slots.open(), 4);
        let table = lock(&slots.table);
        assert!(!table.open.contains_key(&a_idle.id), "a's idle one closed");
        assert!(table.open.contains_key(&a_busy.id));
        assert!(table.open.contains_key(&a_module.id));
        assert!(table.open.contains_key(&b_opening.id));
        assert!(table.open.contains_key(&c1.id));
        drop(table);
        // The evicted slot's own drop gives back nothing twice.
        drop(a_idle);
        assert_eq!(slots.open(), 4);
    }

    #[test]
    fn an_evicted_connection_sees_its_socket_closed() {
        use std::io::Read;
        let mut s = Sockets::new();
        let slots = Slots::new(1, 10);
        let victim_socket = s.next();
        let _victim = Slots::acquire(
            &slots,
            ip("10.0.0.1"),
            PerAddress::Capped,
            victim_socket.clone(),
        )
        .unwrap();
        let _newcomer =
            Slots::acquire(&slots, ip("10.0.0.2"), PerAddress::Capped, s.next()).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!((&*victim_socket).read(&mut buf).unwrap(), 0, "shut down");
    }
}
