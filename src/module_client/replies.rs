//! Requests waiting for their replies, and what a reply does to the token
//! cache when it arrives.

use super::cache::{CachedUser, TokenCache};
use crossbeam_channel::Sender;
use serde_json::Value;

/// A request waiting for its reply.
pub(super) struct Pending {
    pub tx: Sender<Value>,
    /// Applied to the cache when the reply arrives, on the connection's
    /// thread, so in order with the platform's other messages.
    pub effect: Option<Effect>,
}

pub(super) enum Effect {
    /// A `token_validation`: cache the user if the platform vouches.
    Cache(String),
    /// A `user_logout`: the module ended this session itself.
    Forget(String),
}

impl Effect {
    /// Applies `reply` to `cache`.
    pub fn apply(self, cache: &TokenCache, reply: &Value) {
        match self {
            Effect::Cache(token) => {
                if let Some((user, ends)) = validated_user(reply) {
                    cache.insert_until(&token, user, ends);
                }
            }
            Effect::Forget(token) => cache.remove(&token),
        }
    }
}

/// The user and `session_expires` of a successful `token_validation` reply.
/// A protocol-2 platform puts `session_expires` at the top level; inside
/// `user` is accepted too.
pub(super) fn validated_user(reply: &Value) -> Option<(CachedUser, Option<i64>)> {
    if reply["success"] != Value::Bool(true) {
        return None;
    }
    let u = &reply["user"];
    let text = |k: &str| u[k].as_str().unwrap_or_default().to_owned();
    let user = CachedUser {
        username: text("username"),
        email: text("email"),
        user_id: u["user_id"].as_i64().unwrap_or(0),
        role: text("role"),
    };
    let ends = reply["session_expires"]
        .as_i64()
        .or_else(|| u["session_expires"].as_i64());
    Some((user, ends))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_replies_give_the_user_and_the_end() {
        let user = json!({"username": "bob", "email": "b@x.org", "user_id": 7, "role": "guest", "expires": 5});
        let top = json!({"success": true, "user": user, "session_expires": 99});
        let (u, end) = validated_user(&top).expect("valid");
        assert_eq!((u.username.as_str(), u.user_id, end), ("bob", 7, Some(99)));
        let mut inside = user.clone();
        inside["session_expires"] = json!(98);
        let nested = json!({"success": true, "user": inside});
        assert_eq!(validated_user(&nested).and_then(|(_, e)| e), Some(98));
        let old = json!({"success": true, "user": user});
        assert_eq!(validated_user(&old).and_then(|(_, e)| e), None);
        for refused in [
            json!({"success": false, "reason": "token_invalid"}),
            json!({}),
            json!("x"),
        ] {
            assert!(validated_user(&refused).is_none());
        }
    }
}
