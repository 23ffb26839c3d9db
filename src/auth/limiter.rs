//! Counts events per key (an account name, a client address) in a fixed
//! window: failed logins, to stop password guessing, and costly requests
//! (registrations, reset mails), to bound them. Memory stays bounded:
//! expired windows are dropped when the table grows past its cap.
//!
//! The caller passes the time in (`Instant::now()` in the server), so that
//! the window can be tested without waiting for it.

use crate::lock::lock;
use crate::metrics::Counter;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked keys, expired ones are swept.
const MAX_KEYS: usize = 100_000;

pub struct Limiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// Checks and attempts refused so far (for `/metrics`).
    refused: Counter,
}

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Limiter {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
            refused: Counter::new(),
        }
    }

    /// `Err(seconds to wait)` once `key` has used up its events at `now`.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let map = lock(&self.failures);
        match map.get(key) {
            Some(&(count, start)) => self.used_up(count, start, now),
            None => Ok(()),
        }
    }

    /// How many checks and attempts were refused since the start.
    pub fn refusals(&self) -> u64 {
        self.refused.get()
    }

    /// Counts one event for `key` at `now`: a failure, or a request that
    /// is limited whether it succeeds or not (a reset mail).
    pub fn count(&self, key: &str, now: Instant) {
        let mut map = lock(&self.failures);
        self.bump(&mut map, key, now);
    }

    /// Counts an attempt unless `key` has used them all (then `Err(seconds
    /// to wait)`), in one step: concurrent attempts cannot all pass the
    /// check before any of them is counted.
    pub fn attempt(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut map = lock(&self.failures);
        if let Some(&(count, start)) = map.get(key) {
            self.used_up(count, start, now)?;
        }
        self.bump(&mut map, key, now);
        Ok(())
    }

    /// `Err(seconds to wait)` if `count` events since `start` use up the
    /// window at `now`.
    fn used_up(&self, count: u32, start: Instant, now: Instant) -> Result<(), u64> {
        let age = now.saturating_duration_since(start);
        if count >= self.max && age < self.window {
            self.refused.inc();
            return Err((self.window - age).as_secs().max(1));
        }
        Ok(())
    }

    fn bump(&self, map: &mut HashMap<String, (u32, Instant)>, key: &str, now: Instant) {
        let window = self.window;
        let expired = |start: Instant| now.saturating_duration_since(start) >= window;
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, start)| !expired(*start));
            if map.len() >= MAX_KEYS {
                log::warn!("{MAX_KEYS} keys in one window, forgetting all");
                map.clear();
            }
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if expired(entry.1) {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn forget(&self, key: &str) {
        lock(&self.failures).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_only_that_key() {
        let l = Limiter::new(2, Duration::from_secs(60));
        let now = Instant::now();
        l.count("a", now);
        assert!(l.check("a", now).is_ok());
        l.count("a", now);
        assert!(l.check("a", now).is_err());
        assert!(l.check("b", now).is_ok());
        l.forget("a");
        assert!(l.check("a", now).is_ok());
    }

    #[test]
    fn attempts_are_counted_until_the_limit() {
        let l = Limiter::new(2, Duration::from_secs(60));
        let now = Instant::now();
        assert!(l.attempt("a", now).is_ok());
        assert!(l.attempt("a", now).is_ok());
        assert_eq!(l.attempt("a", now), Err(60));
        assert_eq!(l.attempt("a", now + Duration::from_millis(20_500)), Err(39));
        assert!(l.attempt("b", now).is_ok());
    }

    #[test]
    fn the_wait_is_never_zero_seconds() {
        let l = Limiter::new(1, Duration::from_secs(60));
        let now = Instant::now();
        l.count("a", now);
        assert_eq!(l.check("a", now + Duration::from_millis(59_900)), Err(1));
    }

    #[test]
    fn window_expires() {
        let l = Limiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        l.count("a", t0);
        assert!(l.check("a", t0 + Duration::from_secs(59)).is_err());
        assert!(l.check("a", t0 + Duration::from_secs(60)).is_ok());
        // A new event after the window starts a new one.
        let t1 = t0 + Duration::from_secs(61);
        l.count("a", t1);
        assert_eq!(l.check("a", t1 + Duration::from_secs(1)), Err(59));
    }

    #[test]
    fn a_full_table_forgets_expired_windows_first() {
        let l = Limiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_KEYS - 1 {
            l.count(&format!("old{i}"), t0);
        }
        l.count("recent", t0 + Duration::from_secs(30));
        l.count("new", t0 + Duration::from_secs(61));
        let later = t0 + Duration::from_secs(62);
        assert!(
            l.check("recent", later).is_err(),
            "its window is still open"
        );
        assert!(l.check("new", later).is_err());
        assert_eq!(lock(&l.failures).len(), 2, "the expired ones are gone");
    }
}
