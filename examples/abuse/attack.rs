//! What every attack gets (the platform, how long to go on, whether this is
//! the long form) and gives back (notes for the table and the checks of the
//! issue's "must hold"), with the few helpers several attacks share.

use super::net::{exchange, json_request, loopback, Response};
use super::platform::{Platform, ADMIN_NAME};
use serde_json::json;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Attackers come from 127.0.0.1 to 127.0.0.24.
pub const ATTACKER_ADDRESSES: u8 = 24;
/// Logins timed by the attacks come from 127.0.0.200 and up (neither an
/// attacker's address nor the prober's).
pub const TIMED_ADDRESS: u8 = 200;

pub struct Attack<'a> {
    pub platform: &'a Platform,
    /// The attack stops starting new work at this instant.
    pub until: Instant,
    /// The long form (the figures) or a few seconds' smoke test.
    pub full: bool,
    /// A listening socket prepared before the platform started, for
    /// attacks that play a server the platform talks to (item 11).
    pub provider: Option<TcpListener>,
}

impl Attack<'_> {
    pub fn port(&self) -> u16 {
        self.platform.port
    }

    /// `long` in the long form, `short` in the smoke test.
    pub fn scale(&self, long: usize, short: usize) -> usize {
        if self.full {
            long
        } else {
            short
        }
    }

    pub fn over(&self) -> bool {
        Instant::now() >= self.until
    }

    /// The `i`-th attacker address (wrapping after 24).
    pub fn attacker(i: usize) -> Ipv4Addr {
        loopback(1 + (i % usize::from(ATTACKER_ADDRESSES)) as u8)
    }

    /// One request on a new connection from `from`; the status and the
    /// time it took, or `None` when no answer came within `timeout`.
    pub fn once(
        &self,
        from: Ipv4Addr,
        request: &[u8],
        timeout: Duration,
    ) -> (Option<Response>, Duration) {
        let started = Instant::now();
        let reply = exchange(from, self.port(), &self.platform.tls, request, timeout).ok();
        (reply, started.elapsed())
    }

    /// A login as the admin with the right password from `from`.
    pub fn admin_login(&self, from: Ipv4Addr, timeout: Duration) -> (Option<u16>, Duration) {
        let body = json!({"nickname": ADMIN_NAME, "password": self.platform.admin_password});
        let (reply, took) = self.once(
            from,
            &json_request("POST", "/login", &body, "Connection: close\r\n"),
            timeout,
        );
        (reply.map(|r| r.status), took)
    }
}

/// Sleeps until `deadline` in steps of at most 100 ms, or until `stop()`.
pub fn sleep_until(deadline: Instant, stop: impl Fn() -> bool) {
    while !stop() {
        let rest = deadline.saturating_duration_since(Instant::now());
        if rest.is_zero() {
            return;
        }
        std::thread::sleep(rest.min(Duration::from_millis(100)));
    }
}

/// What an attack reports.
#[derive(Default)]
pub struct Outcome {
    pub notes: Vec<String>,
    /// (what must hold, whether it held)
    pub checks: Vec<(String, bool)>,
}

impl Outcome {
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn check(&mut self, what: impl Into<String>, held: bool) {
        self.checks.push((what.into(), held));
    }
}

/// Counters shared by attacker threads.
#[derive(Default)]
pub struct Tally(Vec<AtomicUsize>);

impl Tally {
    pub fn new(n: usize) -> Tally {
        Tally((0..n).map(|_| AtomicUsize::new(0)).collect())
    }

    pub fn add(&self, i: usize, n: usize) {
        if let Some(c) = self.0.get(i) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn sub(&self, i: usize, n: usize) {
        if let Some(c) = self.0.get(i) {
            c.fetch_sub(n, Ordering::Relaxed);
        }
    }

    pub fn get(&self, i: usize) -> usize {
        self.0.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Raises counter `i` to `n` if `n` is larger (for maxima).
    pub fn max(&self, i: usize, n: usize) {
        if let Some(c) = self.0.get(i) {
            c.fetch_max(n, Ordering::Relaxed);
        }
    }
}

/// A status for notes: the number, or "no answer".
pub fn shown(status: Option<u16>) -> String {
    status.map_or("no answer".into(), |s| s.to_string())
}

/// Milliseconds, for notes.
pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}
