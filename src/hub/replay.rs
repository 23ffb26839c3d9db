//! Replay protection: a `resolve_id` accepted from a module is refused from
//! it again for an hour. Original clients send a fresh uuid4 each time.
//!
//! Memory is bounded: ids are kept as 64-bit hashes, at most `capacity` of
//! them; under a load that would exceed it, the oldest are forgotten early
//! (and that is logged), which shortens the window instead of growing.
//!
//! The caller passes the time in (`Instant::now()` in the hub), so that the
//! window can be tested without waiting an hour.

use crate::lock::lock;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(3600);

/// The id of `(origin, resolve_id)`, the same in every process and build
/// (the shared table `hub_replay` is keyed by it): the first 8 bytes of a
/// SHA-256 of both, as a signed integer for PostgreSQL.
pub fn key(origin: &str, resolve_id: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(origin.as_bytes())
        .chain_update([0u8])
        .chain_update(resolve_id.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

pub struct ReplayGuard {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seen: HashSet<u64>,
    order: VecDeque<(Instant, u64)>,
    warned: bool,
}

impl ReplayGuard {
    pub fn new(capacity: usize) -> Self {
        ReplayGuard {
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// `true` the first time `(origin, resolve_id)` is seen in the window
    /// that ends at `now`.
    pub fn first_use(&self, origin: &str, resolve_id: &str, now: Instant) -> bool {
        let id = key(origin, resolve_id);
        let mut s = lock(&self.state);
        while let Some(&(at, old)) = s.order.front() {
            let full = s.order.len() >= self.capacity;
            if now.saturating_duration_since(at) < WINDOW && !full {
                break;
            }
            if full && !s.warned {
                log::warn!("replay memory full ({} ids): the replay window is shorter than an hour under this load", self.capacity);
                s.warned = true;
            }
            s.order.pop_front();
            s.seen.remove(&old);
        }
        if !s.seen.insert(id) {
            return false;
        }
        s.order.push_back((now, id));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_repeats_per_origin_and_stays_bounded() {
        let g = ReplayGuard::new(3);
        let now = Instant::now();
        assert!(g.first_use("A", "1", now));
        assert!(!g.first_use("A", "1", now));
        assert!(g.first_use("B", "1", now), "another origin's id is its own");
        assert!(g.first_use("A", "2", now));
        assert!(g.first_use("A", "3", now), "evicts the oldest");
        assert_eq!(lock(&g.state).seen.len(), 3);
    }

    #[test]
    fn an_id_is_refused_for_the_whole_window_and_accepted_after_it() {
        let g = ReplayGuard::new(100);
        let t0 = Instant::now();
        assert!(g.first_use("A", "1", t0));
        let almost = t0 + WINDOW - Duration::from_millis(1);
        assert!(!g.first_use("A", "1", almost), "replayed within the hour");
        assert!(g.first_use("A", "1", t0 + WINDOW), "the hour is over");
        assert!(!g.first_use("A", "1", t0 + WINDOW), "and a new hour begins");
    }

    #[test]
    fn expired_ids_leave_memory() {
        let g = ReplayGuard::new(100);
        let t0 = Instant::now();
        for id in ["1", "2", "3"] {
            assert!(g.first_use("A", id, t0));
        }
        assert!(g.first_use("A", "4", t0 + WINDOW));
        let s = lock(&g.state);
        assert_eq!((s.seen.len(), s.order.len()), (1, 1));
        assert!(!s.warned, "expiry is not the memory running full");
    }
}
