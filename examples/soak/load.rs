//! The HTTP side of the soak: readers on kept-alive connections, logins and
//! registrations (each followed by a logout, so that sessions do not pile
//! up in the platform's cache: memory that grows for a reason is not a
//! leak, but it would hide one). Every client paces itself: the soak looks
//! for growth over time, not for the platform's top speed, and shares the
//! machine with it.

use super::net::{json_request, loopback, Conn, Response};
use super::platform::{lock, ADMIN_NAME};
use serde_json::json;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);
const READ_PAUSE: Duration = Duration::from_millis(25);
const LOGIN_PAUSE: Duration = Duration::from_millis(200);
const REGISTER_PAUSE: Duration = Duration::from_millis(250);
/// Requests a reader sends on one connection before opening the next.
const PER_CONNECTION: usize = 25;
const READ_PATHS: [&str; 5] = ["/login", "/healthz", "/auth/config", "/readyz", "/register"];

/// What every load thread shares: where the platform is, when to stop, and
/// what happened.
pub struct Load {
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    pub admin_password: String,
    /// Prefix of this run's nicknames.
    pub run: String,
    pub stop: AtomicBool,
    pub counts: Counts,
    /// Nicknames whose registration was answered 200.
    pub acknowledged: Mutex<Vec<String>>,
}

#[derive(Default)]
pub struct Counts {
    pub reads_ok: AtomicU64,
    pub reads_other: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_other: AtomicU64,
    pub registrations_ok: AtomicU64,
    pub registrations_other: AtomicU64,
    pub logouts_ok: AtomicU64,
    pub module_starts: AtomicU64,
    pub module_failures: AtomicU64,
    pub module_events: AtomicU64,
}

pub fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Load {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `d`, or less once the load stops.
    pub fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let Some(rest) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            std::thread::sleep(rest.min(Duration::from_millis(100)));
        }
    }

    fn open(&self, from: Ipv4Addr) -> Option<Conn> {
        Conn::open(from, self.port, &self.tls, TIMEOUT).ok()
    }

    /// One request on a new connection, closed after the answer.
    fn once(&self, from: Ipv4Addr, request: &[u8]) -> Option<Response> {
        let mut conn = self.open(from)?;
        conn.send(request).ok()?;
        conn.read_response(Instant::now() + TIMEOUT).ok()
    }

    /// Ends the session of `token` (its status 200 counted).
    fn logout(&self, from: Ipv4Addr, token: &str) {
        let extra = format!("Authorization: Bearer {token}\r\nConnection: close\r\n");
        let request = json_request("POST", "/logout", &json!({}), &extra);
        if self.once(from, &request).is_some_and(|r| r.status == 200) {
            add(&self.counts.logouts_ok);
        }
    }
}

/// GETs of pages and probes, `PER_CONNECTION` on each connection.
pub fn reader(load: &Load, from: Ipv4Addr) {
    while !load.stopped() {
        let Some(mut conn) = load.open(from) else {
            add(&load.counts.reads_other);
            load.pause(Duration::from_millis(500));
            continue;
        };
        for path in READ_PATHS.iter().cycle().take(PER_CONNECTION) {
            if load.stopped() {
                return;
            }
            let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let answer = conn
                .send(request.as_bytes())
                .and_then(|()| conn.read_response(Instant::now() + TIMEOUT));
            match answer {
                Ok(r) if r.status == 200 => add(&load.counts.reads_ok),
                Ok(_) => add(&load.counts.reads_other),
                Err(_) => {
                    add(&load.counts.reads_other);
                    break;
                }
            }
            load.pause(READ_PAUSE);
        }
    }
}

/// The administrator logs in, then out, again and again.
pub fn logins(load: &Load, from: Ipv4Addr) {
    while !load.stopped() {
        let body = json!({"nickname": ADMIN_NAME, "password": load.admin_password});
        let request = json_request("POST", "/login", &body, "Connection: close\r\n");
        match load.once(from, &request) {
            Some(r) if r.status == 200 => {
                add(&load.counts.logins_ok);
                if let Some(token) = r.json()["access_token"].as_str() {
                    load.logout(from, token);
                }
            }
            _ => add(&load.counts.logins_other),
        }
        load.pause(LOGIN_PAUSE);
    }
}

/// New accounts, each from the next of 200 addresses; the acknowledged
/// ones are recorded, to be found in the database at the end.
pub fn registrations(load: &Load, thread: usize) {
    let mut n = 0usize;
    while !load.stopped() {
        n += 1;
        let from = loopback(20 + ((n * 7 + thread) % 200) as u8);
        let name = format!("{}-{thread}-{n}", load.run);
        let body = json!({"nickname": name, "email": format!("{name}@example.org"),
                          "password": "soak-password"});
        let request = json_request("POST", "/register", &body, "Connection: close\r\n");
        match load.once(from, &request) {
            Some(r) if r.status == 200 => {
                add(&load.counts.registrations_ok);
                lock(&load.acknowledged).push(name);
                if let Some(token) = r.json()["access_token"].as_str() {
                    load.logout(from, token);
                }
            }
            _ => add(&load.counts.registrations_other),
        }
        load.pause(REGISTER_PAUSE);
    }
}
