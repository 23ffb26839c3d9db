//! Hub events as rows of the `hub_events` outbox, and back: the wire form
//! between processes, kept apart from the events themselves. Connection
//! ids (`by`, `requester`) mean nothing in another process and are
//! dropped, so that a remote id never matches a local connection.

use super::events::Event;
use super::registry::RunningModule;
use crate::auth::ended::{EndReason, Ended};
use crate::auth::token::TokenHash;
use crate::db::users::User;
use serde_json::{json, Value};

/// No connection of any process has this id.
pub const NO_CONNECTION: u64 = u64::MAX;

pub fn encode(event: &Event) -> Value {
    match event {
        Event::UserLogin {
            user,
            token,
            session_expires,
        } => json!({"kind": "user_login", "user": user_json(user), "token": token,
                    "session_expires": session_expires}),
        Event::SessionEnded(e) => json!({"kind": "session_ended",
            "token_hash": e.token_hash.hex(), "user_id": e.user_id,
            "reason": e.reason.word(), "token": e.token}),
        Event::UserDelete { user_id, token } => {
            json!({"kind": "user_delete", "user_id": user_id, "token": token})
        }
        Event::UserSessionsRevoked { user_id } => {
            json!({"kind": "user_sessions_revoked", "user_id": user_id})
        }
        Event::UserRoleChange { username, role } => {
            json!({"kind": "user_role_change", "username": username, "role": role.as_str()})
        }
        Event::ModuleStarted { module, .. } => {
            json!({"kind": "module_started", "module": module_json(module)})
        }
        Event::ModuleStopped(module) => {
            json!({"kind": "module_stopped", "module": module_json(module)})
        }
    }
}

/// `None` for a row this version cannot read (a newer process wrote it).
pub fn decode(v: &Value) -> Option<Event> {
    let int = |key: &str| v.get(key)?.as_i64();
    let text = |key: &str| v.get(key)?.as_str().map(str::to_owned);
    Some(match v.get("kind")?.as_str()? {
        "user_login" => Event::UserLogin {
            user: user_of(v.get("user")?)?,
            token: text("token")?,
            session_expires: int("session_expires")?,
        },
        "session_ended" => Event::SessionEnded(Ended {
            token_hash: TokenHash::from_hex(v.get("token_hash")?.as_str()?)?,
            user_id: i32::try_from(int("user_id")?).ok()?,
            reason: EndReason::from_word(v.get("reason")?.as_str()?)?,
            token: text("token"),
            requester: None,
        }),
        "user_delete" => Event::UserDelete {
            user_id: i32::try_from(int("user_id")?).ok()?,
            token: text("token"),
        },
        "user_sessions_revoked" => Event::UserSessionsRevoked {
            user_id: i32::try_from(int("user_id")?).ok()?,
        },
        "user_role_change" => Event::UserRoleChange {
            username: text("username")?,
            role: v.get("role")?.as_str()?.parse().ok()?,
        },
        "module_started" => Event::ModuleStarted {
            module: module_of(v.get("module")?)?,
            by: NO_CONNECTION,
        },
        "module_stopped" => Event::ModuleStopped(module_of(v.get("module")?)?),
        _ => return None,
    })
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "name": u.name, "email": u.email, "role": u.role.as_str(),
           "google_user": u.google_user})
}

fn user_of(v: &Value) -> Option<User> {
    Some(User {
        id: i32::try_from(v.get("id")?.as_i64()?).ok()?,
        name: v.get("name")?.as_str()?.to_owned(),
        email: v.get("email")?.as_str()?.to_owned(),
        role: v.get("role")?.as_str()?.parse().ok()?,
        google_user: v.get("google_user")?.as_bool()?,
    })
}

fn module_json(m: &RunningModule) -> Value {
    json!({"name": m.name, "port": m.port, "url": m.url})
}

fn module_of(v: &Value) -> Option<RunningModule> {
    Some(RunningModule {
        name: v.get("name")?.as_str()?.to_owned(),
        port: u16::try_from(v.get("port")?.as_u64()?).ok()?,
        url: v.get("url").and_then(Value::as_str).map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::users::Role;

    fn round_trip(event: Event) -> Event {
        decode(&encode(&event)).expect("decodes")
    }

    #[test]
    fn every_event_reads_back_without_connection_ids() {
        let user = User {
            id: 7,
            name: "kim".into(),
            email: "kim@example.org".into(),
            role: Role::Teacher,
            google_user: false,
        };
        let Event::UserLogin { user: u, token, .. } = round_trip(Event::UserLogin {
            user: user.clone(),
            token: "t0k".into(),
            session_expires: 99,
        }) else {
            panic!("kind")
        };
        assert_eq!(
            (u.name, u.role, token),
            ("kim".into(), Role::Teacher, "t0k".into())
        );
        let ended = Ended {
            token_hash: TokenHash::of("t0k"),
            user_id: 7,
            reason: EndReason::Logout,
            token: Some("t0k".into()),
            requester: Some(3),
        };
        let Event::SessionEnded(e) = round_trip(Event::SessionEnded(ended)) else {
            panic!("kind")
        };
        assert_eq!((e.token_hash, e.requester), (TokenHash::of("t0k"), None));
        let module = RunningModule {
            name: "ListServ".into(),
            port: 8001,
            url: None,
        };
        let Event::ModuleStarted { module: m, by } = round_trip(Event::ModuleStarted {
            module: module.clone(),
            by: 5,
        }) else {
            panic!("kind")
        };
        assert_eq!((m, by), (module, NO_CONNECTION));
        assert!(decode(&json!({"kind": "from_the_future"})).is_none());
        assert!(decode(&json!({"kind": "user_delete", "user_id": "x"})).is_none());
    }
}
