//! The integration-test harness: real parts only. Every test runs the real
//! `sse-platform` binary on a free port with a fresh self-signed certificate
//! and a PostgreSQL database of its own ([`Server::start`]; the server owns
//! its [`TestDb`] and drops it only after the process is gone), and talks to
//! it over real TLS with ureq ([`Client`]) or raw sockets ([`RawConn`]).
//!
//! Tests need `SSE_TEST_PG` (a libpq connection string for a role that may
//! create databases); `scripts/test` starts a private cluster and sets it.
//! Private clusters for outage tests come from `SSE_TEST_PG_CLUSTER`
//! ([`PgCluster`]).
//!
//! - `db`: [`TestDb`], [`PgCluster`]
//! - `server`: [`Setup`], [`Server`], the test config
//! - `process`: [`run_to_exit`] and [`Exited`], for runs that end
//! - `client`: [`Client`] (ureq) and its [`Resp`]
//! - `raw`: [`RawConn`] over plain TCP or TLS, for what a library hides
//! - `smtp`: [`smtp::SmtpSink`], a real SMTP server (aiosmtpd) for mail tests
//! - `oidc`: keys, signed ID tokens and a JWKS server for OpenID tests
//! - `hub`: module connections that sign, for the hub and client tests
//! - `original`: a module that behaves exactly as the original's Python
//!   client, and protocol-2 connections
//! - `attack`: connections from chosen 127.0.0.x addresses and a probing
//!   legitimate client, for the attack tests
//! - `schemas`: docs/schemas compiled, to check every frame a hub test gets
//! - `totp`: RFC 6238 codes of the tests' own, and waiting for audit entries
//!
//! Set `SSE_TEST_SHOW_LOG=1` to echo every server's stderr while it runs.

pub mod attack;
mod client;
mod db;
pub mod hub;
pub mod oidc;
pub mod original;
mod process;
mod raw;
pub mod schemas;
mod server;
pub mod smtp;
pub mod totp;

pub use client::{Client, Resp};
pub use db::{PgCluster, TestDb};
pub use process::{run_to_exit, Exited};
pub use raw::{tls_handshake, RawConn, Stream, TlsStream};
pub use server::{self_signed_cert, Server, Setup, ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD, BIN};

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("OS random generator");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `base` with `extra`'s keys added or replaced (both JSON objects).
pub fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// Polls `cond` every 20 ms until it holds; `false` if `timeout` passes first.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `k=v&k=v`, percent-encoded, for query strings and form bodies.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A directory under `CARGO_TARGET_TMPDIR`, removed when dropped unless the
/// test is failing (then it is kept for a look at config and certificate).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}-{}", std::process::id(), random_hex(4));
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Tornado's secure cookie v2 (docs/protocol.md §1): the value a Tornado module
/// expects, signed with HMAC-SHA256 under `secret`.
pub fn tornado_cookie(secret: &str, name: &str, value: &str, timestamp: i64) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let value = base64::engine::general_purpose::STANDARD.encode(value);
    let ts = timestamp.to_string();
    let mut out = String::from("2|1:0|");
    for field in [ts.as_str(), name, value.as_str()] {
        out.push_str(&format!("{}:{field}|", field.len()));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(out.as_bytes());
    for b in mac.finalize().into_bytes() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// tests/data/vectors.json: test vectors made by the Python libraries the
/// original platform and its modules use (PyNaCl, Tornado, bcrypt).
pub fn vectors() -> Value {
    serde_json::from_str(include_str!("../../data/vectors.json")).expect("vectors.json")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
