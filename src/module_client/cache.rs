//! A module's cache of users' access tokens, fed by the platform's
//! broadcasts, with the platform's one-hour sliding expiry.

use crate::sync::lock;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedUser {
    pub username: String,
    pub email: String,
    pub user_id: i64,
    pub role: String,
}

pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (CachedUser, Instant)>>,
}

impl TokenCache {
    pub fn new(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The user of `token` if cached and fresh; a hit renews the expiry.
    pub fn get(&self, token: &str) -> Option<CachedUser> {
        let mut entries = lock(&self.entries);
        let (user, expires) = entries.get_mut(token)?;
        if Instant::now() >= *expires {
            entries.remove(token);
            return None;
        }
        *expires = Instant::now() + self.ttl;
        Some(user.clone())
    }

    pub fn insert(&self, token: &str, user: CachedUser) {
        let mut entries = lock(&self.entries);
        let now = Instant::now();
        entries.retain(|_, (_, expires)| *expires > now);
        entries.insert(token.to_owned(), (user, now + self.ttl));
    }

    /// Applies a broadcast (`user_login`, `user_logout`, `user_delete`,
    /// `user_role_change`, `user_sessions_revoked`); others are ignored.
    pub fn apply(&self, event: &Value) {
        let s = |k: &str| {
            event
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match event.get("type").and_then(Value::as_str) {
            Some("user_login") => self.insert(
                &s("access_token"),
                CachedUser {
                    username: s("username"),
                    email: s("email"),
                    user_id: event.get("id").and_then(Value::as_i64).unwrap_or(0),
                    role: s("role"),
                },
            ),
            Some("user_logout") => {
                lock(&self.entries).remove(&s("access_token"));
            }
            Some("user_sessions_revoked") => {
                let id = event.get("userid").and_then(Value::as_i64);
                lock(&self.entries).retain(|_, (u, _)| Some(u.user_id) != id);
            }
            Some("user_delete") => {
                let id = event.get("userid").and_then(Value::as_i64);
                let token = s("access_token");
                lock(&self.entries).retain(|t, (u, _)| *t != token && Some(u.user_id) != id);
            }
            Some("user_role_change") => {
                let (name, role) = (s("username"), s("role"));
                for (user, _) in lock(&self.entries).values_mut() {
                    if user.username == name {
                        user.role = role.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_broadcasts() {
        let c = TokenCache::new(Duration::from_secs(3600));
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
    fn expires_without_use() {
        let c = TokenCache::new(Duration::from_millis(30));
        c.insert(
            "T",
            CachedUser {
                username: "a".into(),
                email: "".into(),
                user_id: 1,
                role: "guest".into(),
            },
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.get("T").is_some(), "a use renews");
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.get("T").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.get("T").is_none());
    }
}
