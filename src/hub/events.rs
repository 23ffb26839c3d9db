//! What the platform tells modules unasked (unsigned JSON text frames), and
//! the one place that decides what each connection hears of an event.
//!
//! A connection speaks the original protocol until its `module_start` says
//! `"protocol": 2`. Original connections get exactly the original's
//! messages: the original clients handle `user_login` and `user_logout`
//! themselves and treat every other message as a reply, reading its
//! `resolve_id` (a message without one kills their read loop), so every
//! message carries a fresh `resolve_id` and types the original never sent
//! go only to protocol-2 connections.

use super::registry::RunningModule;
use crate::auth::ended::{EndReason, Ended};
use crate::config::Permission;
use crate::db::users::{Role, User};
use serde_json::{json, Value};

/// A connection's protocol level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The original platform's messages (no `"protocol"` in `module_start`).
    Original,
    /// `"protocol": 2`: also `session_ended`, `session_expires`, presence,
    /// role changes and `user_sessions_revoked`.
    V2,
}

/// Whom an event is rendered for.
pub struct Audience<'a> {
    pub protocol: Protocol,
    /// The connection's id, for [`Ended::requester`].
    pub peer: u64,
    pub permission: &'a Permission,
}

pub enum Event {
    UserLogin {
        user: User,
        token: String,
        /// The session's absolute end (unix seconds).
        session_expires: i64,
    },
    /// Any end of a session: `session_ended` (protocol 2), or `user_logout`
    /// where the original sent one.
    SessionEnded(Ended),
    UserDelete {
        user_id: i32,
        token: Option<String>,
    },
    /// Every session of the user ended (password change or reset).
    UserSessionsRevoked {
        user_id: i32,
    },
    UserRoleChange {
        username: String,
        role: Role,
    },
    /// A module's registration began (or changed port or URL); `by` is the
    /// connection that registered, which its reply tells already.
    ModuleStarted {
        module: RunningModule,
        by: u64,
    },
    ModuleStopped(RunningModule),
}

impl Event {
    /// The frame `to` hears of this event, if any, with a fresh `resolve_id`.
    pub fn render(&self, to: &Audience) -> Option<String> {
        let mut v = self.fields(to)?;
        v["resolve_id"] = Value::String(crate::random::uuid4());
        Some(v.to_string())
    }

    fn fields(&self, to: &Audience) -> Option<Value> {
        let v2 = to.protocol == Protocol::V2;
        let user_data = to.permission.user_data;
        match self {
            Event::UserLogin {
                user,
                token,
                session_expires,
            } => {
                // The original client reads every field of a user_login.
                if !v2 && !user_data {
                    return None;
                }
                let mut v = json!({"type": "user_login", "username": user.name,
                                   "id": user.id, "role": user.role.as_str()});
                if user_data {
                    v["email"] = json!(user.email);
                    v["access_token"] = json!(token);
                }
                if v2 {
                    v["session_expires"] = json!(session_expires);
                }
                Some(v)
            }
            Event::SessionEnded(e) if v2 => Some(json!({
                "type": "session_ended", "token_sha256": e.token_hash.hex(),
                "userid": e.user_id, "reason": e.reason.word(),
            })),
            Event::SessionEnded(e) => {
                let token = e.token.as_ref().filter(|_| {
                    user_data && e.requester != Some(to.peer) && original_sent_logout(e.reason)
                })?;
                Some(json!({"type": "user_logout", "access_token": token}))
            }
            Event::UserDelete { user_id, token } => {
                let mut v = json!({"type": "user_delete", "userid": user_id});
                if user_data {
                    v["access_token"] = json!(token.as_deref().unwrap_or_default());
                }
                Some(v)
            }
            _ if !v2 => None,
            Event::UserSessionsRevoked { user_id } => {
                Some(json!({"type": "user_sessions_revoked", "userid": user_id}))
            }
            Event::UserRoleChange { username, role } => Some(
                json!({"type": "user_role_change", "username": username, "role": role.as_str()}),
            ),
            Event::ModuleStarted { by, .. } if *by == to.peer => None,
            Event::ModuleStarted { module, .. } => Some(presence("module_started", module)),
            Event::ModuleStopped(m) => Some(presence("module_stopped", m)),
        }
    }
}

/// The original platform told modules of a logout and of the session that
/// changed its password, naming the token; of nothing else. A user ending
/// the session they use from their list of sessions is a logout too.
fn original_sent_logout(reason: EndReason) -> bool {
    matches!(
        reason,
        EndReason::Logout | EndReason::PasswordChanged | EndReason::EndedByUser
    )
}

fn presence(kind: &str, m: &RunningModule) -> Value {
    json!({"type": kind, "name": m.name, "port": m.port, "url": m.url})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::TokenHash;
    use crate::config::ModulePermissions;

    fn ended(reason: EndReason, token: Option<&str>, requester: Option<u64>) -> Event {
        Event::SessionEnded(Ended {
            token_hash: TokenHash::of("T"),
            user_id: 7,
            reason,
            token: token.map(str::to_owned),
            requester,
        })
    }

    #[test]
    fn each_level_hears_its_own_shapes_with_fresh_ids() {
        let all = ModulePermissions::default();
        let original = Audience {
            protocol: Protocol::Original,
            peer: 1,
            permission: all.of("m"),
        };
        let v2 = Audience {
            protocol: Protocol::V2,
            peer: 1,
            permission: all.of("m"),
        };
        let render = |e: &Event, to: &Audience| -> Option<Value> {
            e.render(to).map(|t| serde_json::from_str(&t).unwrap())
        };
        let logout = ended(EndReason::Logout, Some("T"), None);
        let old = render(&logout, &original).unwrap();
        assert_eq!(
            (old["type"].clone(), old["access_token"].clone()),
            (json!("user_logout"), json!("T"))
        );
        let new = render(&logout, &v2).unwrap();
        assert_eq!(new["type"], "session_ended");
        assert_eq!(new["token_sha256"], TokenHash::of("T").hex());
        assert_eq!(new["reason"], "logout");
        assert_ne!(old["resolve_id"], new["resolve_id"]);
        assert!(old["resolve_id"].as_str().is_some_and(|id| id.len() == 36));
        assert!(
            render(&ended(EndReason::Logout, Some("T"), Some(1)), &original).is_none(),
            "the asker"
        );
        assert!(render(&ended(EndReason::Expired, None, None), &original).is_none());
        assert!(render(&ended(EndReason::PasswordReset, None, None), &original).is_none());
        let role = Event::UserRoleChange {
            username: "u".into(),
            role: Role::Admin,
        };
        assert!(render(&role, &original).is_none());
        assert_eq!(render(&role, &v2).unwrap()["type"], "user_role_change");
        let gone = Event::UserDelete {
            user_id: 7,
            token: None,
        };
        let old = render(&gone, &original).unwrap();
        assert!(
            old["resolve_id"].is_string() && old["access_token"] == "",
            "{old}"
        );
    }
}
