//! Counts failures per key (an account name, a client address) in a fixed
//! window, to stop password guessing. Memory stays bounded: expired windows
//! are dropped when the table grows past its cap.

use crate::lock::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Above this many tracked keys, expired ones are swept.
const MAX_KEYS: usize = 100_000;

pub struct Limiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Limiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Limiter {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` once `key` has used up its failures.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let map = lock(&self.failures);
        match map.get(key) {
            Some(&(count, start)) if count >= self.max && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) {
        let mut map = lock(&self.failures);
        self.count(&mut map, key);
    }

    /// Counts an attempt unless `key` has used them all (then `Err(seconds
    /// to wait)`), in one step: concurrent attempts cannot all pass the
    /// check before any of them is counted.
    pub fn attempt(&self, key: &str) -> Result<(), u64> {
        let mut map = lock(&self.failures);
        if let Some(&(count, start)) = map.get(key) {
            if count >= self.max && start.elapsed() < self.window {
                return Err((self.window - start.elapsed()).as_secs().max(1));
            }
        }
        self.count(&mut map, key);
        Ok(())
    }

    fn count(&self, map: &mut HashMap<String, (u32, Instant)>, key: &str) {
        if map.len() >= MAX_KEYS {
            let window = self.window;
            map.retain(|_, (_, start)| start.elapsed() < window);
            if map.len() >= MAX_KEYS {
                log::warn!("{MAX_KEYS} keys in one window, forgetting all");
                map.clear();
            }
        }
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
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
        l.fail("a");
        assert!(l.check("a").is_ok());
        l.fail("a");
        assert!(l.check("a").is_err());
        assert!(l.check("b").is_ok());
        l.forget("a");
        assert!(l.check("a").is_ok());
    }

    #[test]
    fn attempts_are_counted_until_the_limit() {
        let l = Limiter::new(2, Duration::from_secs(60));
        assert!(l.attempt("a").is_ok());
        assert!(l.attempt("a").is_ok());
        let wait = l.attempt("a").unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(l.attempt("b").is_ok());
    }

    #[test]
    fn window_expires() {
        let l = Limiter::new(1, Duration::from_millis(20));
        l.fail("a");
        assert!(l.check("a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.check("a").is_ok());
    }
}
