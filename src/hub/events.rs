//! What the platform tells every authenticated module (unsigned JSON text
//! frames, protocol.md §2).

use crate::db::users::User;
use serde_json::json;

pub enum Event<'a> {
    UserLogin {
        user: &'a User,
        token: &'a str,
    },
    UserLogout {
        token: &'a str,
    },
    UserDelete {
        user_id: i32,
        token: &'a str,
    },
    /// New: every session of the user ended (password change or reset);
    /// modules drop the user's cached tokens, whose text the platform does
    /// not keep and so cannot name one by one.
    UserSessionsRevoked {
        user_id: i32,
    },
    /// New in the Rust platform; modules that do not know it ignore it.
    UserRoleChange {
        username: &'a str,
        role: &'a str,
    },
}

impl Event<'_> {
    pub fn to_json(&self) -> String {
        match self {
            Event::UserLogin { user, token } => json!({
                "type": "user_login",
                "username": user.name,
                "email": user.email,
                "id": user.id,
                "role": user.role,
                "access_token": token,
            }),
            Event::UserLogout { token } => json!({"type": "user_logout", "access_token": token}),
            Event::UserDelete { user_id, token } => {
                json!({"type": "user_delete", "userid": user_id, "access_token": token})
            }
            Event::UserSessionsRevoked { user_id } => {
                json!({"type": "user_sessions_revoked", "userid": user_id})
            }
            Event::UserRoleChange { username, role } => {
                json!({"type": "user_role_change", "username": username, "role": role})
            }
        }
        .to_string()
    }
}
