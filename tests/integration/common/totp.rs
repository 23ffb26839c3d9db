//! TOTP for the tests, written apart from the server's on purpose: RFC
//! 6238 codes with ring's HMAC-SHA1 (checked against the RFC's vectors in
//! `totp::rfc_6238_appendix_b_vectors`), and a look at the audit trail.

use super::Server;
use std::time::Duration;

/// RFC 4226 HOTP with ring's HMAC-SHA1, six digits (independent of the
/// server's code on purpose).
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = ring::hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let i = (mac[19] & 0xf) as usize;
    let n = u32::from_be_bytes([mac[i] & 0x7f, mac[i + 1], mac[i + 2], mac[i + 3]]);
    n % 1_000_000
}

pub fn step_now() -> i64 {
    super::unix_now() / 30
}

pub fn code(secret: &[u8], step: i64) -> String {
    format!("{:06}", hotp(secret, step as u64))
}

/// Waits, if needed, until at least 5 s of the current step are left, so
/// that the step the test computes is the one the server sees.
pub fn fresh_step() -> i64 {
    super::wait_until(Duration::from_secs(10), || super::unix_now() % 30 < 25);
    step_now()
}

/// A six-digit code that is none of the steps around now.
pub fn wrong_code(secret: &[u8]) -> String {
    let t = step_now();
    let near: Vec<String> = (t - 2..=t + 2).map(|s| code(secret, s)).collect();
    (0..)
        .map(|n| format!("{:06}", (hotp(secret, t as u64) + 1 + n) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap_or_default()
}

/// Waits for the audit trail to hold `actor action target outcome` (the
/// writer batches entries); panics with the trail otherwise.
pub fn audited(server: &Server, actor: &str, action: &str, target: Option<&str>, outcome: &str) {
    let found = || {
        let rows = server
            .db()
            .client()
            .query(
                "SELECT 1 FROM audit_events WHERE actor = $1 AND action = $2
                 AND target IS NOT DISTINCT FROM $3 AND outcome = $4",
                &[&actor, &action, &target, &outcome],
            )
            .unwrap();
        !rows.is_empty()
    };
    let trail = || {
        let rows = server
            .db()
            .client()
            .query(
                "SELECT actor, action, target, outcome FROM audit_events",
                &[],
            )
            .unwrap();
        rows.iter()
            .map(|r| {
                let t: Option<String> = r.get(2);
                format!(
                    "{} {} {t:?} {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(3)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        super::wait_until(Duration::from_secs(10), found),
        "no {actor} {action} {target:?} {outcome} in the trail:\n{}",
        trail()
    );
}

pub fn user_id(server: &Server, name: &str) -> i32 {
    server
        .db()
        .client()
        .query_one("SELECT id FROM users WHERE name = $1", &[&name])
        .unwrap()
        .get(0)
}
