//! A slow lane's queue, fair between client addresses: one FIFO per
//! address, a cap on the whole queue and on each address's share, and
//! threads take the next job from the address with the fewest jobs in
//! service, least recently served first. A flood from one address then
//! costs another address at most a turn, not a place behind the flood.
//!
//! Pushing never blocks (a full queue is refused at once, so the caller can
//! answer 503); taking blocks until there is work, so no thread idles while
//! a job waits.

use crate::lock::lock;
use crate::metrics::Gauge;
use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};

/// Why a job was not queued; it comes back to the caller to answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The whole queue is full.
    Full,
    /// This address already has its share waiting.
    AddressFull,
}

pub struct FairQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    total_cap: usize,
    per_address_cap: usize,
    /// Where the number of waiting jobs is reported, if anywhere.
    length: Option<&'static Gauge>,
}

struct State<T> {
    flows: HashMap<String, Flow<T>>,
    queued: usize,
    /// Counts takes and new addresses; a flow remembers the count at its
    /// last turn, or at its arrival.
    turns: u64,
}

struct Flow<T> {
    waiting: VecDeque<T>,
    /// Jobs of this address being run by a thread now.
    in_service: usize,
    /// Whether this address was served yet, and `State.turns` when it
    /// arrived or was last served: never served, then longest ago, first.
    served: bool,
    turn: u64,
}

/// Which jobs a thread takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    Any,
    /// Only a job that is the one job of its address.
    Alone,
}

/// Marks a job's address as having one job less in service when the job
/// is finished, even if running it panicked.
struct Done<'q, T> {
    address: String,
    queue: &'q FairQueue<T>,
}

impl<T> Drop for Done<'_, T> {
    fn drop(&mut self) {
        self.queue.done(&self.address);
    }
}

impl<T> FairQueue<T> {
    pub fn new(total_cap: usize, per_address_cap: usize) -> Self {
        FairQueue {
            state: Mutex::new(State {
                flows: HashMap::new(),
                queued: 0,
                turns: 0,
            }),
            ready: Condvar::new(),
            total_cap,
            per_address_cap,
            length: None,
        }
    }

    /// Reports the number of waiting jobs in `gauge` (for `/metrics`).
    pub fn reported_as(mut self, gauge: &'static Gauge) -> Self {
        self.length = Some(gauge);
        self
    }

    /// Queues `job` for `address`, or gives it back at once with the reason.
    pub fn push(&self, address: &str, job: T) -> Result<(), (Refused, T)> {
        let mut state = lock(&self.state);
        if state.queued >= self.total_cap {
            return Err((Refused::Full, job));
        }
        if !state.flows.contains_key(address) {
            state.turns += 1;
            let flow = Flow {
                waiting: VecDeque::new(),
                in_service: 0,
                served: false,
                turn: state.turns,
            };
            state.flows.insert(address.to_owned(), flow);
        }
        let Some(flow) = state.flows.get_mut(address) else {
            return Err((Refused::Full, job));
        };
        if flow.waiting.len() >= self.per_address_cap {
            return Err((Refused::AddressFull, job));
        }
        flow.waiting.push_back(job);
        state.queued += 1;
        drop(state);
        if let Some(gauge) = self.length {
            gauge.inc();
        }
        // All: a thread that serves only lone jobs may not take this one,
        // and must not swallow the wake-up another thread needs.
        self.ready.notify_all();
        Ok(())
    }

    /// Whether a job of `address` would be queued now (a hint: another
    /// thread may take the place before `push`).
    pub fn has_room(&self, address: &str) -> bool {
        let state = lock(&self.state);
        state.queued < self.total_cap
            && state
                .flows
                .get(address)
                .is_none_or(|f| f.waiting.len() < self.per_address_cap)
    }

    /// Waits for the next job and runs `run` on it.
    pub fn serve_one(&self, run: impl FnOnce(T)) {
        self.serve(Take::Any, run);
    }

    /// Waits for the next lone job (the only one of its address, waiting or
    /// in service) and runs `run` on it.
    pub fn serve_one_alone(&self, run: impl FnOnce(T)) {
        self.serve(Take::Alone, run);
    }

    fn serve(&self, take: Take, run: impl FnOnce(T)) {
        let (address, job) = self.take(take);
        let _done = Done {
            address,
            queue: self,
        };
        run(job);
    }

    /// The next job and its address, waiting for one if there is none; the
    /// caller must call `done` when it is finished.
    fn take(&self, take: Take) -> (String, T) {
        let mut state = lock(&self.state);
        loop {
            if let Some(next) = state.next(take) {
                if let Some(gauge) = self.length {
                    gauge.dec();
                }
                return next;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn done(&self, address: &str) {
        let mut state = lock(&self.state);
        if let Some(flow) = state.flows.get_mut(address) {
            flow.in_service = flow.in_service.saturating_sub(1);
            if flow.in_service == 0 && flow.waiting.is_empty() {
                state.flows.remove(address);
            }
        }
    }

    /// Jobs waiting (not in service).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.state).queued
    }
}

impl<T> State<T> {
    /// Takes from the waiting address with the fewest jobs in service, and
    /// among those the one served longest ago (a new address first).
    fn next(&mut self, take: Take) -> Option<(String, T)> {
        let address = self
            .flows
            .iter()
            .filter(|(_, f)| !f.waiting.is_empty())
            .filter(|(_, f)| take == Take::Any || (f.in_service == 0 && f.waiting.len() == 1))
            .min_by_key(|(_, f)| (f.in_service, f.served, f.turn))
            .map(|(a, _)| a.clone())?;
        self.turns += 1;
        let turn = self.turns;
        let flow = self.flows.get_mut(&address)?;
        let job = flow.waiting.pop_front()?;
        flow.in_service += 1;
        flow.served = true;
        flow.turn = turn;
        self.queued -= 1;
        Some((address, job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `n` jobs, finishing each before the next (one thread).
    fn serve(q: &FairQueue<&'static str>, n: usize) -> Vec<&'static str> {
        let mut order = Vec::new();
        for _ in 0..n {
            q.serve_one(|job| order.push(job));
        }
        order
    }

    #[test]
    fn a_lone_job_is_told_from_a_crowd() {
        let q = FairQueue::new(100, 10);
        q.push("flood", "f1").unwrap();
        q.push("flood", "f2").unwrap();
        q.push("user", "u1").unwrap();
        let mut got = Vec::new();
        q.serve_one_alone(|job| got.push(job));
        assert_eq!(got, ["u1"], "only the lone job is taken");
        // One flood job left waiting, but another of its address is in
        // service: not alone either.
        let mut state = lock(&q.state);
        let flood = state.flows.get_mut("flood").unwrap();
        flood.waiting.pop_front();
        flood.in_service = 1;
        state.queued -= 1;
        assert!(state.next(Take::Alone).is_none());
        assert!(state.next(Take::Any).is_some());
    }

    #[test]
    fn addresses_take_turns() {
        let q = FairQueue::new(100, 10);
        for job in ["a1", "a2", "a3"] {
            q.push("A", job).unwrap();
        }
        q.push("B", "b1").unwrap();
        q.push("B", "b2").unwrap();
        q.push("C", "c1").unwrap();
        assert_eq!(serve(&q, 6), ["a1", "b1", "c1", "a2", "b2", "a3"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_new_address_goes_ahead_of_one_already_served() {
        let q = FairQueue::new(100, 10);
        for job in ["a1", "a2", "a3"] {
            q.push("A", job).unwrap();
        }
        assert_eq!(serve(&q, 1), ["a1"]);
        q.push("B", "b1").unwrap();
        assert_eq!(serve(&q, 3), ["b1", "a2", "a3"]);
    }

    #[test]
    fn the_address_with_fewer_jobs_in_service_goes_first() {
        let q = FairQueue::new(100, 10);
        for job in ["a1", "a2", "a3"] {
            q.push("A", job).unwrap();
        }
        // Two threads hold A's jobs; B, arriving later, is next.
        assert_eq!(q.take(Take::Any), ("A".to_owned(), "a1"));
        assert_eq!(q.take(Take::Any), ("A".to_owned(), "a2"));
        q.push("B", "b1").unwrap();
        assert_eq!(serve(&q, 1), ["b1"]);
        q.done("A");
        q.done("A");
        assert_eq!(serve(&q, 1), ["a3"]);
    }

    #[test]
    fn caps_refuse_at_once() {
        let q = FairQueue::new(3, 2);
        q.push("A", "a1").unwrap();
        q.push("A", "a2").unwrap();
        assert_eq!(q.push("A", "a3").unwrap_err().0, Refused::AddressFull);
        assert!(!q.has_room("A") && q.has_room("B"));
        q.push("B", "b1").unwrap();
        assert!(!q.has_room("C"));
        assert_eq!(q.push("C", "c1").unwrap_err().0, Refused::Full);
        // A job in service no longer holds a waiting place.
        let (address, _a1) = q.take(Take::Any);
        q.push("A", "a3").unwrap();
        q.done(&address);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn finished_addresses_are_forgotten() {
        let q = FairQueue::new(10, 10);
        q.push("A", "a1").unwrap();
        serve(&q, 1);
        assert!(lock(&q.state).flows.is_empty());
    }
}
