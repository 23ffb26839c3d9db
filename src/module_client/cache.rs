//! A module's cache of users' access tokens, fed by the platform's
//! broadcasts and replies.
//!
//! An entry is served until the first of: its session's absolute end
//! (`session_expires`, which a protocol-2 platform sends), `ttl` without a
//! hit (the original's one-hour sliding expiry), or a message that ends it
//! (`user_logout`, `session_ended`, `user_delete`, `user_sessions_revoked`).
//! And once `revalidate_after` has passed since the platform last vouched
//! for it, it is not served from memory: the caller asks the platform again,
//! so a message the module missed costs at most that long.
//!
//! Every method has a form that takes the time (`*_at`), so that the rules
//! can be tested with made-up clocks.

use crate::lock::lock;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedUser {
    pub username: String,
    pub email: String,
    pub user_id: i64,
    pub role: String,
}

/// The two clocks an entry needs: a monotonic one for its own deadlines,
/// and Unix time to place the platform's `session_expires` on it.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub instant: Instant,
    /// Since the Unix epoch.
    pub unix: Duration,
}

impl Now {
    pub fn real() -> Now {
        Now {
            instant: Instant::now(),
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    /// The instant of Unix second `secs`: the past is `self.instant`.
    fn instant_of(&self, secs: i64) -> Instant {
        let at = Duration::from_secs(u64::try_from(secs).unwrap_or(0));
        let ahead = at.saturating_sub(self.unix);
        self.instant.checked_add(ahead).unwrap_or(self.instant)
    }
}

struct Entry {
    user: CachedUser,
    /// Lower-case hex of the token's SHA-256, as `session_ended` names it.
    sha256: String,
    /// Without a hit until then, the entry is gone; a hit moves it.
    idle_until: Instant,
    /// When the platform last vouched for the token.
    confirmed: Instant,
    /// The session's absolute end, when the platform said.
    ends: Option<Instant>,
}

impl Entry {
    fn alive(&self, now: Instant) -> bool {
        now < self.idle_until && self.ends.is_none_or(|end| now < end)
    }
}

pub struct TokenCache {
    ttl: Duration,
    revalidate_after: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    /// A cache whose entries the platform never needs to confirm again.
    pub fn new(ttl: Duration) -> Self {
        Self::with_revalidation(ttl, Duration::MAX)
    }

    /// A cache that stops serving an entry `revalidate_after` after the
    /// platform last vouched for it.
    pub fn with_revalidation(ttl: Duration, revalidate_after: Duration) -> Self {
        TokenCache {
            ttl,
            revalidate_after,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The user of `token` if cached, alive and recently confirmed; a hit
    /// renews the idle expiry.
    pub fn get(&self, token: &str) -> Option<CachedUser> {
        self.get_at(token, Instant::now())
    }

    pub fn get_at(&self, token: &str, now: Instant) -> Option<CachedUser> {
        let mut entries = lock(&self.entries);
        let entry = entries.get_mut(token)?;
        let stale = now.saturating_duration_since(entry.confirmed) >= self.revalidate_after;
        if !entry.alive(now) || stale {
            entries.remove(token);
            return None;
        }
        entry.idle_until = after(now, self.ttl);
        Some(entry.user.clone())
    }

    /// Caches a token the platform vouched for just now, without a known end.
    pub fn insert(&self, token: &str, user: CachedUser) {
        self.insert_at(token, user, None, Now::real());
    }

    /// As [`insert`](Self::insert), with the session's absolute end in Unix
    /// seconds (`session_expires`); a token already past it is not cached.
    pub fn insert_until(&self, token: &str, user: CachedUser, session_expires: Option<i64>) {
        self.insert_at(token, user, session_expires, Now::real());
    }

    pub fn insert_at(&self, token: &str, user: CachedUser, session_expires: Option<i64>, now: Now) {
        let entry = Entry {
            user,
            sha256: sha256_hex(token),
            idle_until: after(now.instant, self.ttl),
            confirmed: now.instant,
            ends: session_expires.map(|secs| now.instant_of(secs)),
        };
        let mut entries = lock(&self.entries);
        entries.retain(|_, e| e.alive(now.instant));
        if entry.alive(now.instant) {
            entries.insert(token.to_owned(), entry);
        } else {
            entries.remove(token);
        }
    }

    /// Forgets one token (the module itself logged its user out).
    pub fn remove(&self, token: &str) {
        lock(&self.entries).remove(token);
    }

    /// Forgets everything: after a reconnect the module may have missed
    /// any number of messages.
    pub fn clear(&self) {
        lock(&self.entries).clear();
    }

    /// Applies a message from the platform (`user_login`, `user_logout`,
    /// `session_ended`, `user_delete`, `user_role_change`,
    /// `user_sessions_revoked`); others are ignored.
    pub fn apply(&self, event: &Value) {
        self.apply_at(event, Now::real());
    }

    pub fn apply_at(&self, event: &Value, now: Now) {
        let s = |k: &str| {
            event
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let user_id = || event.get("userid").and_then(Value::as_i64);
        match event.get("type").and_then(Value::as_str) {
            Some("user_login") if !s("access_token").is_empty() => {
                let user = CachedUser {
                    username: s("username"),
                    email: s("email"),
                    user_id: event.get("id").and_then(Value::as_i64).unwrap_or(0),
                    role: s("role"),
                };
                let ends = event.get("session_expires").and_then(Value::as_i64);
                self.insert_at(&s("access_token"), user, ends, now);
            }
            Some("user_logout") => self.remove(&s("access_token")),
            Some("session_ended") => {
                let hash = s("token_sha256").to_ascii_lowercase();
                lock(&self.entries).retain(|_, e| e.sha256 != hash);
            }
            Some("user_sessions_revoked") => {
                let id = user_id();
                lock(&self.entries).retain(|_, e| Some(e.user.user_id) != id);
            }
            Some("user_delete") => {
                let (id, token) = (user_id(), s("access_token"));
                lock(&self.entries).retain(|t, e| *t != token && Some(e.user.user_id) != id);
            }
            Some("user_role_change") => {
                let (name, role) = (s("username"), s("role"));
                for entry in lock(&self.entries).values_mut() {
                    if entry.user.username == name {
                        entry.user.role = role.clone();
                    }
                }
            }
            _ => {}
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `now + d`, or a century on for a `d` beyond what an `Instant` holds.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// What `session_ended` carries instead of the token: the platform keeps
/// only this hash.
fn sha256_hex(token: &str) -> String {
    crate::hex::encode(&Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOUR: Duration = Duration::from_secs(3600);

    /// A made-up clock at Unix second 1,000,000.
    fn clock() -> Now {
        Now {
            instant: Instant::now(),
            unix: Duration::from_secs(1_000_000),
        }
    }

    fn later(now: Now, secs: u64) -> Instant {
        now.instant + Duration::from_secs(secs)
    }

    fn user(id: i64) -> CachedUser {
        CachedUser {
            username: format!("user{id}"),
            email: String::new(),
            user_id: id,
            role: "guest".into(),
        }
    }

    fn login(token: &str, id: i64, session_expires: Option<i64>) -> Value {
        json!({"type": "user_login", "username": format!("user{id}"), "email": "", "id": id,
               "role": "guest", "access_token": token, "session_expires": session_expires,
               "resolve_id": "fresh"})
    }

    #[test]
    fn follows_broadcasts() {
        let c = TokenCache::new(HOUR);
        c.apply(&json!({"type": "user_login", "username": "bob", "email": "b@x.org", "id": 7, "role": "guest", "access_token": "T"}));
        assert_eq!(c.get("T").map(|u| u.user_id), Some(7));
        c.apply(&json!({"type": "user_role_change", "username": "bob", "role": "teacher"}));
        assert_eq!(c.get("T").map(|u| u.role), Some("teacher".into()));
        c.apply(&json!({"type": "user_logout", "access_token": "T"}));
        assert_eq!(c.get("T"), None);
        c.apply(&json!({"type": "user_login", "username": "bob", "email": "b@x.org", "id": 7, "role": "guest", "access_token": "U"}));
        c.apply(&json!({"type": "user_delete", "userid": 7, "access_token": "other"}));
        assert!(c.is_empty());
        c.apply(&json!({"type": "user_login", "username": "bob", "email": "b@x.org", "id": 7, "role": "guest", "access_token": "V"}));
        c.apply(&json!({"type": "user_sessions_revoked", "userid": 8}));
        assert!(c.get("V").is_some(), "another user's revocation");
        c.apply(&json!({"type": "user_sessions_revoked", "userid": 7}));
        assert!(c.is_empty());
    }

    #[test]
    fn an_unused_entry_expires_and_a_hit_renews_it() {
        let c = TokenCache::new(Duration::from_secs(30));
        let now = clock();
        c.insert_at("T", user(1), None, now);
        assert!(c.get_at("T", later(now, 20)).is_some(), "a hit renews");
        assert!(c.get_at("T", later(now, 40)).is_some());
        assert!(c.get_at("T", later(now, 71)).is_none());
    }

    #[test]
    fn never_served_past_session_expires_however_often_it_is_used() {
        let c = TokenCache::new(HOUR);
        let now = clock();
        c.apply_at(&login("T", 1, Some(1_000_010)), now);
        for secs in 0..10 {
            assert!(c.get_at("T", later(now, secs)).is_some(), "second {secs}");
        }
        assert!(c.get_at("T", later(now, 10)).is_none(), "at the end");
        assert!(c.is_empty());
    }

    #[test]
    fn session_expires_is_placed_to_the_sub_second() {
        let c = TokenCache::new(HOUR);
        let mut now = clock();
        now.unix += Duration::from_millis(600);
        c.insert_at("T", user(1), Some(1_000_001), now);
        let end = now.instant + Duration::from_millis(400);
        assert!(c.get_at("T", end - Duration::from_millis(1)).is_some());
        assert!(c.get_at("T", end).is_none());
    }

    #[test]
    fn a_token_already_past_its_end_is_not_cached() {
        let c = TokenCache::new(HOUR);
        let now = clock();
        c.insert_at("T", user(1), Some(1_000_000), now);
        c.insert_at("U", user(2), Some(999_000), now);
        c.insert_at("V", user(3), Some(-5), now);
        assert!(c.is_empty());
    }

    #[test]
    fn a_token_seen_again_gets_the_new_end() {
        let c = TokenCache::new(HOUR);
        let now = clock();
        c.insert_at("T", user(1), None, now);
        c.insert_at("T", user(1), Some(1_000_005), now);
        assert!(c.get_at("T", later(now, 5)).is_none());
    }

    #[test]
    fn entries_older_than_the_revalidation_interval_are_not_served() {
        let c = TokenCache::with_revalidation(HOUR, Duration::from_secs(60));
        let now = clock();
        c.insert_at("T", user(1), None, now);
        assert!(
            c.get_at("T", later(now, 59)).is_some(),
            "hits do not confirm"
        );
        assert!(c.get_at("T", later(now, 60)).is_none());
        assert!(c.is_empty(), "dropped, so the caller asks the platform");
        let confirmed_again = Now {
            instant: later(now, 61),
            unix: now.unix + Duration::from_secs(61),
        };
        c.insert_at("T", user(1), None, confirmed_again);
        assert!(c.get_at("T", later(now, 120)).is_some());
    }

    #[test]
    fn session_ended_drops_the_token_whose_hash_it_names() {
        let c = TokenCache::new(HOUR);
        let now = clock();
        c.insert_at("T", user(1), None, now);
        c.insert_at("U", user(1), None, now);
        let hash = sha256_hex("T");
        assert_eq!(hash.len(), 64);
        let ended = |h: &str| {
            json!({"type": "session_ended", "token_sha256": h, "userid": 1,
                   "reason": "logout", "resolve_id": "fresh"})
        };
        c.apply_at(&ended(&sha256_hex("other")), now);
        assert_eq!(c.len(), 2, "another token's end");
        c.apply_at(&ended(&hash.to_ascii_uppercase()), now);
        assert!(c.get_at("T", now.instant).is_none());
        assert!(
            c.get_at("U", now.instant).is_some(),
            "the user's other session"
        );
    }

    #[test]
    fn malformed_messages_change_nothing() {
        let c = TokenCache::new(HOUR);
        let now = clock();
        c.insert_at("T", user(1), None, now);
        for bad in [
            json!({"type": "session_ended"}),
            json!({"type": "session_ended", "token_sha256": 5}),
            json!({"type": "user_sessions_revoked", "userid": "1"}),
            json!({"type": "user_delete"}),
            json!({"type": "user_login", "username": "x", "id": 2}),
            json!({"type": 7}),
            json!([1, 2]),
            json!(null),
        ] {
            c.apply_at(&bad, now);
        }
        assert!(c.get_at("T", now.instant).is_some());
    }

    #[test]
    fn clear_forgets_everything() {
        let c = TokenCache::new(HOUR);
        let now = clock();
        c.insert_at("T", user(1), None, now);
        c.insert_at("U", user(2), Some(2_000_000), now);
        c.clear();
        assert!(c.is_empty());
    }
}
