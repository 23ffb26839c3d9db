//! Counts events per key (an account, a client address, a pair of both) in
//! a fixed window: failed logins, to stop password guessing, and costly
//! requests (registrations, reset mails), to bound them.
//!
//! The counts live in PostgreSQL (`db::limits`), not in memory, so that a
//! restart does not wipe out a guesser's failures and every process on one
//! database shares them. A check is one SELECT for all of a request's keys;
//! a success writes nothing unless the check saw a count to forget. While
//! the database is away the limits cannot be read, and the request fails
//! with it (`Refused::Db`: 503 `database_unavailable`): fail closed, as
//! every other database path does.
//!
//! The caller passes the time in (Unix milliseconds, `clock::unix_millis`
//! in the server), so that windows can be tested without waiting for them.

use crate::db::limits::{self, LimitRow};
use crate::db::{Db, DbError};
use crate::metrics::Counter;
use postgres::GenericClient;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::time::Duration;

/// Longer keys (a typed name of any length) are stored as their SHA-256,
/// so that hostile input cannot outgrow an index entry.
const MAX_KEY_BYTES: usize = 256;

/// Why a limited request may not go on.
#[derive(Debug)]
pub enum Refused {
    /// The limit is used up for this many more seconds (at least 1).
    Wait(u64),
    /// The counts could not be read or written.
    Db(DbError),
}

impl From<DbError> for Refused {
    fn from(e: DbError) -> Self {
        Refused::Db(e)
    }
}

/// One limit: at most `max` events per key in `window`.
pub struct Limiter {
    /// The limit's name in the table and in `/metrics`.
    name: &'static str,
    max: u32,
    window_ms: i64,
    /// Checks and attempts refused by this process (for `/metrics`).
    refused: Counter,
}

/// A limit and one of its keys.
pub type Keyed<'a> = (&'a Limiter, &'a str);

impl Limiter {
    pub fn new(name: &'static str, max: u32, window: Duration) -> Self {
        Limiter {
            name,
            max,
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2),
            refused: Counter::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How many checks and attempts this process refused since its start.
    pub fn refusals(&self) -> u64 {
        self.refused.get()
    }

    /// Whether `row` (one of this limit's) uses it up at `now`.
    pub fn used_up(&self, row: &LimitRow, now: i64) -> bool {
        wait(self.max, row.count.into(), row.ends_at, now).is_some()
    }

    /// Counts an attempt unless `key` has used them all (then
    /// `Refused::Wait`), in one statement: concurrent attempts, in this
    /// process or another, cannot all pass before any of them is counted.
    pub fn attempt(&self, db: &Db, key: &str, now: i64) -> Result<(), Refused> {
        let key = stored(key);
        let max = i32::try_from(self.max).unwrap_or(i32::MAX);
        let ends = now.saturating_add(self.window_ms);
        let refused = limits::attempt(&mut *db.conn()?, self.name, &key, ends, now, max)?;
        match refused {
            None => Ok(()),
            Some(ends_at) => {
                self.refused.inc();
                Err(Refused::Wait(seconds_until(ends_at, now)))
            }
        }
    }
}

/// Seconds to wait when `count` events of a window ending at `ends_at` use
/// up `max` at `now`; `None` while events are left. Never zero seconds:
/// a client told to wait 0 would retry at once and be refused again.
fn wait(max: u32, count: i64, ends_at: i64, now: i64) -> Option<u64> {
    if count < i64::from(max) || ends_at <= now {
        return None;
    }
    Some(seconds_until(ends_at, now))
}

fn seconds_until(ends_at: i64, now: i64) -> u64 {
    (ends_at.saturating_sub(now) / 1000).max(1) as u64
}

/// The key as stored: itself, or the SHA-256 of a long one.
pub(super) fn stored(key: &str) -> Cow<'_, str> {
    if key.len() <= MAX_KEY_BYTES {
        return Cow::Borrowed(key);
    }
    Cow::Owned(format!(
        "sha256:{}",
        crate::hex::encode(&Sha256::digest(key))
    ))
}

/// Which of a check's keys had an open window, in the order given.
#[derive(Debug, Default)]
pub struct Seen(Vec<bool>);

impl Seen {
    /// Whether key `i` of the check had a count.
    pub fn counted(&self, i: usize) -> bool {
        self.0.get(i).copied().unwrap_or(false)
    }
}

/// `Refused::Wait` (the longest wait) if any limit of `keys` is used up at
/// `now`, else which keys have counts; one SELECT for all of them. The
/// first limit that refuses counts the refusal (one per request).
pub fn check(db: &Db, keys: &[Keyed], now: i64) -> Result<Seen, Refused> {
    check_in(&mut *db.conn()?, keys, now)
}

/// As [`check`], on `c` (a transaction's connection, say).
pub fn check_in(c: &mut impl GenericClient, keys: &[Keyed], now: i64) -> Result<Seen, Refused> {
    let stored_keys: Vec<Cow<str>> = keys.iter().map(|(_, k)| stored(k)).collect();
    let names: Vec<&str> = keys.iter().map(|(l, _)| l.name).collect();
    let key_refs: Vec<&str> = stored_keys.iter().map(|k| k.as_ref()).collect();
    let rows = limits::find(c, &names, &key_refs)?;
    let row_of = |i: usize| {
        rows.iter()
            .find(|r: &&LimitRow| r.name == names[i] && r.key == key_refs[i])
            .filter(|r| r.ends_at > now)
    };
    let mut seen = Vec::with_capacity(keys.len());
    let mut longest: Option<u64> = None;
    for (i, (limiter, _)) in keys.iter().enumerate() {
        let row = row_of(i);
        seen.push(row.is_some());
        let refused = row.and_then(|r| wait(limiter.max, r.count.into(), r.ends_at, now));
        if let Some(w) = refused {
            if longest.is_none() {
                limiter.refused.inc();
            }
            longest = Some(longest.map_or(w, |l| l.max(w)));
        }
    }
    match longest {
        Some(w) => Err(Refused::Wait(w)),
        None => Ok(Seen(seen)),
    }
}

/// The distinct `(name, stored key)` pairs of `keys`, sorted, so that one
/// statement touches each row once and concurrent ones lock in one order.
fn distinct<'a>(keys: &[Keyed<'a>]) -> Vec<(&'a Limiter, Cow<'a, str>)> {
    let mut out: Vec<(&Limiter, Cow<str>)> = keys.iter().map(|(l, k)| (*l, stored(k))).collect();
    out.sort_by(|a, b| (a.0.name, &a.1).cmp(&(b.0.name, &b.1)));
    out.dedup_by(|a, b| a.0.name == b.0.name && a.1 == b.1);
    out
}

/// Counts one event for each of `keys` at `now` (a failure, or a request
/// that is limited whether it succeeds or not); one upsert for all.
pub fn count(db: &Db, keys: &[Keyed], now: i64) -> Result<(), DbError> {
    count_in(&mut *db.conn()?, keys, now)
}

/// As [`count`], on `c` (in a transaction, it counts when that commits).
pub fn count_in(c: &mut impl GenericClient, keys: &[Keyed], now: i64) -> Result<(), DbError> {
    let keys = distinct(keys);
    let names: Vec<&str> = keys.iter().map(|(l, _)| l.name).collect();
    let key_refs: Vec<&str> = keys.iter().map(|(_, k)| k.as_ref()).collect();
    let ends: Vec<i64> = keys
        .iter()
        .map(|(l, _)| now.saturating_add(l.window_ms))
        .collect();
    limits::count(c, &names, &key_refs, &ends, now)
}

/// Forgets the counts of `keys` (a pair after its successful login).
/// Nothing to forget costs no statement.
pub fn forget(db: &Db, keys: &[Keyed]) -> Result<(), DbError> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys = distinct(keys);
    let names: Vec<&str> = keys.iter().map(|(l, _)| l.name).collect();
    let key_refs: Vec<&str> = keys.iter().map(|(_, k)| k.as_ref()).collect();
    limits::delete(&mut *db.conn()?, &names, &key_refs)?;
    Ok(())
}

/// Deletes every expired window (the janitor); how many.
pub fn prune(db: &Db, now: i64) -> Result<u64, DbError> {
    limits::prune(&mut *db.conn()?, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_left_below_the_max() {
        assert_eq!(wait(2, 0, 60_000, 0), None);
        assert_eq!(wait(2, 1, 60_000, 0), None);
        assert_eq!(wait(2, 2, 60_000, 0), Some(60));
        assert_eq!(wait(2, 3, 60_000, 0), Some(60));
    }

    #[test]
    fn the_wait_counts_down_to_the_window_end() {
        assert_eq!(wait(1, 1, 60_000, 20_500), Some(39));
        assert_eq!(wait(1, 1, 60_000, 59_000), Some(1));
    }

    #[test]
    fn the_wait_is_never_zero_seconds() {
        assert_eq!(wait(1, 1, 60_000, 59_900), Some(1));
    }

    #[test]
    fn an_ended_window_refuses_nothing() {
        assert_eq!(wait(1, 5, 60_000, 60_000), None);
        assert_eq!(wait(1, 5, 60_000, 61_000), None);
    }

    #[test]
    fn long_keys_are_stored_hashed_short_ones_as_they_are() {
        assert_eq!(stored("name:alice"), "name:alice");
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        let s = stored(&long);
        assert!(s.starts_with("sha256:") && s.len() == 7 + 64, "{s}");
        assert_ne!(stored(&format!("{long}y")), s);
    }

    #[test]
    fn distinct_keys_are_sorted_and_deduplicated() {
        let a = Limiter::new("a", 1, Duration::from_secs(1));
        let b = Limiter::new("b", 1, Duration::from_secs(1));
        let keys = [(&b, "k"), (&a, "z"), (&a, "k"), (&b, "k")];
        let out: Vec<(&str, String)> = distinct(&keys)
            .into_iter()
            .map(|(l, k)| (l.name, k.into_owned()))
            .collect();
        let want = [("a", "k"), ("a", "z"), ("b", "k")];
        assert_eq!(out, want.map(|(n, k)| (n, k.to_owned())));
    }
}
