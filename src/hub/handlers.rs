//! What a module may ask (docs/module-protocol.md), one function per request type.
//! Each returns the reply's fields; `dispatch` adds `type` and `resolve_id`,
//! and turns errors into the error replies of docs/module-protocol.md.

use super::connection::Connection;
use super::envelope::{self, Refused};
use super::events::Protocol;
use super::registrations;
use crate::audit::{Actor, Entry};
use crate::auth::AuthError;
use crate::clock::unix_now;
use crate::db::{users, DbError};
use serde_json::{json, Map, Value};

pub enum Outcome {
    Reply(Value),
    /// Handled, nothing to answer (a forwarded message).
    Silent,
    /// Refused; counts towards closing a connection that keeps doing it.
    Bad(Value),
}

pub(super) enum HubError {
    Missing(&'static str),
    WrongType(&'static str),
    /// `module_permissions` does not allow it.
    Denied,
    Db(DbError),
    Internal(AuthError),
}

impl From<DbError> for HubError {
    fn from(e: DbError) -> Self {
        HubError::Db(e)
    }
}

impl From<AuthError> for HubError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(e) => HubError::Db(e),
            other => HubError::Internal(other),
        }
    }
}

/// A verified request from an authenticated module.
pub(super) struct Request<'a> {
    kind: &'a str,
    pub origin: &'a str,
    inner: &'a Map<String, Value>,
}

impl Request<'_> {
    pub fn str(&self, key: &'static str) -> Result<&str, HubError> {
        match self.inner.get(key) {
            None | Some(Value::Null) => Err(HubError::Missing(key)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(HubError::WrongType(key)),
        }
    }
}

pub(super) type Fields = Result<Option<Value>, HubError>;

/// An audit entry of this connection's client address.
fn audit_entry(s: &Connection, actor: Actor, action: &'static str) -> Entry {
    Entry::new(actor, action).address(s.addr.ip().to_string())
}

/// Records a refused signature once per run of bad messages (the
/// connection closes after `hub_max_bad_messages` of them), so that an
/// unsigned client cannot fill the trail.
fn audit_refusal(s: &Connection, action: &'static str, reason: &'static str) {
    if s.bad > 0 {
        return;
    }
    let actor = match s.peer.module.get() {
        Some(name) => Actor::Module(name.clone()),
        None => Actor::Anonymous,
    };
    s.ctx
        .audit
        .record(audit_entry(s, actor, action).refused(reason));
}

fn sig_error(outer_resolve_id: Option<&str>) -> Outcome {
    Outcome::Bad(json!({"type": "signature_verification_error", "resolve_id": outer_resolve_id}))
}

fn format_error(description: &str, resolve_id: Option<&str>) -> Outcome {
    Outcome::Bad(
        json!({"type": "message_format_error", "description": description, "resolve_id": resolve_id}),
    )
}

/// Checks an incoming text frame end to end and answers it.
pub fn handle(s: &mut Connection, text: &str) -> Outcome {
    let max = s.ctx.config.hub.max_frame_bytes;
    if text.len() > max {
        // Parsing it only for its id is bounded by the hard frame limit.
        let id = outer_resolve_id(text);
        return format_error(&format!("message over the {max}-byte limit"), id.as_deref());
    }
    let v = match envelope::open(text, &s.ctx.hub.keys) {
        Ok(v) => v,
        Err(Refused::NotJson) => return format_error("message is not a JSON object", None),
        Err(Refused::Signature) => {
            audit_refusal(s, "module_signature_refused", "bad_signature");
            return sig_error(outer_resolve_id(text).as_deref());
        }
    };
    if let Some(name) = s.peer.module.get() {
        if *name != v.origin {
            log::warn!(
                "{} ({name}) sent an envelope signed by '{}'",
                s.addr,
                v.origin
            );
            audit_refusal(s, "module_signature_refused", "another_modules_key");
            return sig_error(outer_resolve_id(text).as_deref());
        }
    }
    let Some(resolve_id) = v.inner.get("resolve_id").and_then(Value::as_str) else {
        return format_error("Message misses key 'resolve_id'", None);
    };
    let Some(kind) = v.inner.get("type").and_then(Value::as_str) else {
        return format_error("Message misses key 'type'", Some(resolve_id));
    };
    if !s.ctx.hub.first_use(&v.origin, resolve_id) {
        log::warn!("{} replayed an envelope of '{}', refused", s.addr, v.origin);
        let entry = audit_entry(s, Actor::Anonymous, "module_replay_refused");
        s.ctx.audit.record(
            entry
                .target(format!("module:{}", v.origin))
                .refused("replayed_resolve_id"),
        );
        return sig_error(Some(resolve_id));
    }
    if s.peer.module.set(v.origin.clone()).is_ok() {
        log::info!("{} authenticated as '{}'", s.addr, v.origin);
        let entry = audit_entry(s, Actor::Module(v.origin.clone()), "module_authenticated");
        s.ctx.audit.record(entry);
    }
    // A module allowed to register, that signs without having sent
    // module_start on this connection: its last registration comes back.
    let may_register = s
        .ctx
        .hub
        .permissions
        .of(&v.origin)
        .may_request("module_start");
    if !s.registration_known && kind != "module_start" && may_register {
        s.registration_known = registrations::restore(s, &v.origin);
    }
    let req = Request {
        kind,
        origin: &v.origin,
        inner: &v.inner,
    };
    dispatch(s, &req, resolve_id)
}

fn outer_resolve_id(text: &str) -> Option<String> {
    let v: Value = serde_json::from_str(text).ok()?;
    v.get("resolve_id")?.as_str().map(str::to_owned)
}

fn dispatch(s: &Connection, r: &Request, resolve_id: &str) -> Outcome {
    let permission = s.ctx.hub.permissions.of(r.origin);
    let result = match r.kind {
        _ if !permission.may_request(r.kind) => Err(HubError::Denied),
        "module_start" => module_start(s, r),
        "token_validation" => token_validation(s, r),
        "get_user" => get_user(s, r),
        "get_user_list" => get_user_list(s),
        "check_permission" => check_permission(s, r),
        "user_logout" => user_logout(s, r),
        "get_running_modules" => Ok(Some(
            json!({"success": true, "running_modules": s.ctx.hub.running_json(s.ctx.port)}),
        )),
        "message_module" => forward(s, r),
        "message_module_response" => forward(s, r),
        "update_token_ttl" => super::token_ttl::update_token_ttl(s, r),
        "post_template" => super::templates::post(s, r),
        "get_template" => super::templates::get(s, r),
        _ => {
            return Outcome::Bad(json!({
                "type": "protocol_error", "success": false,
                "reason": "invalid request type", "resolve_id": resolve_id,
            }))
        }
    };
    let response_type = match r.kind {
        "post_template" => super::templates::POST_REPLY_TYPE.to_owned(),
        kind => format!("{kind}_response"),
    };
    let failure = |reason: &str, description: Option<String>| {
        json!({"type": response_type, "success": false, "reason": reason,
               "description": description, "resolve_id": resolve_id})
    };
    match result {
        Ok(Some(mut fields)) => {
            fields["type"] = Value::String(response_type.clone());
            fields["resolve_id"] = Value::String(resolve_id.to_owned());
            Outcome::Reply(fields)
        }
        Ok(None) => Outcome::Silent,
        Err(HubError::Missing(key)) => Outcome::Bad(failure(
            "message_format_error",
            Some(format!("Message misses key '{key}'")),
        )),
        Err(HubError::WrongType(key)) => Outcome::Bad(failure(
            "message_format_error",
            Some(format!("Key '{key}' has the wrong type")),
        )),
        Err(HubError::Denied) => {
            log::info!("{}: {} refused by module_permissions", r.origin, r.kind);
            let entry = audit_entry(
                s,
                Actor::Module(r.origin.to_owned()),
                "module_permission_refused",
            );
            s.ctx.audit.record(entry.refused("permission_denied"));
            Outcome::Reply(failure("permission_denied", None))
        }
        Err(HubError::Db(e)) if e.is_unavailable() => {
            log::warn!("{} {}: {e}", s.peer.name(), r.kind);
            Outcome::Reply(failure("database_unavailable", None))
        }
        Err(HubError::Db(e)) => {
            log::error!("{} {}: {e}", s.peer.name(), r.kind);
            Outcome::Reply(failure("internal_error", None))
        }
        Err(HubError::Internal(e)) => {
            log::error!("{} {}: {e}", s.peer.name(), r.kind);
            Outcome::Reply(failure("internal_error", None))
        }
    }
}

fn module_start(s: &Connection, r: &Request) -> Fields {
    let name = r.str("module_name")?;
    let port = match r.inner.get("port") {
        None | Some(Value::Null) => return Err(HubError::Missing("port")),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(p)) => p.trim().parse().ok(),
        Some(_) => None,
    };
    let port = port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0);
    let port = port.ok_or(HubError::WrongType("port"))?;
    let url = match r.inner.get("url") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) if is_web_url(u) => Some(u.clone()),
        Some(_) => return Err(HubError::WrongType("url")),
    };
    let protocol = match r.inner.get("protocol") {
        None | Some(Value::Null) => Protocol::Original,
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Protocol::Original,
        Some(Value::Number(n)) if n.as_u64() == Some(2) => Protocol::V2,
        Some(Value::Number(_)) => {
            return Ok(Some(
                json!({"success": false, "reason": "unsupported_protocol"}),
            ))
        }
        Some(_) => return Err(HubError::WrongType("protocol")),
    };
    if name != r.origin {
        return Ok(Some(
            json!({"success": false, "reason": "module_name_mismatch"}),
        ));
    }
    s.peer.set_protocol(protocol);
    if !registrations::start(s, name, port, url) {
        return Ok(Some(json!({"success": false, "reason": "already_running"})));
    }
    let mut reply = json!({"status": "recognized", "success": true});
    if protocol == Protocol::V2 {
        reply["protocol"] = json!(2);
    }
    Ok(Some(reply))
}

fn is_web_url(url: &str) -> bool {
    url.len() <= 512
        && (url.starts_with("https://") || url.starts_with("http://"))
        && !url.contains(char::is_whitespace)
}

fn token_validation(s: &Connection, r: &Request) -> Fields {
    let token = r.str("access_token")?;
    Ok(Some(match s.ctx.sessions.validate(token, unix_now())? {
        Some(session) => {
            let mut reply = json!({"success": true, "user": {
                "username": session.user.name,
                "email": session.user.email,
                "user_id": session.user.id,
                "role": session.user.role.as_str(),
                "expires": session.expires_at,
            }});
            if s.peer.protocol() == Protocol::V2 {
                reply["session_expires"] = json!(session.ends_at);
            }
            reply
        }
        None => json!({"success": false, "reason": "token_invalid"}),
    }))
}

fn user_fields(user: &users::User) -> Value {
    json!({"id": user.id, "email": user.email, "username": user.name, "role": user.role.as_str()})
}

fn get_user(s: &Connection, r: &Request) -> Fields {
    let name = r.str("username")?;
    let found = users::by_name(&mut *s.ctx.db.conn()?, name)?;
    Ok(Some(match found.first() {
        Some(c) => json!({"success": true, "user": user_fields(&c.user)}),
        None => json!({"success": false, "reason": "user_not_found"}),
    }))
}

fn get_user_list(s: &Connection) -> Fields {
    let list = users::list(&mut *s.ctx.db.conn()?)?;
    let users: Map<String, Value> = list
        .iter()
        .map(|u| (u.name.clone(), user_fields(u)))
        .collect();
    Ok(Some(json!({"success": true, "users": users})))
}

fn check_permission(s: &Connection, r: &Request) -> Fields {
    let name = r.str("username")?;
    let found = users::by_name(&mut *s.ctx.db.conn()?, name)?;
    Ok(Some(match found.first() {
        Some(c) => json!({"success": true, "username": c.user.name, "role": c.user.role.as_str()}),
        None => json!({"success": false, "username": name, "reason": "user_not_found"}),
    }))
}

/// Ends the token's session; the session store tells the modules (on the
/// original protocol, every connection but this one).
fn user_logout(s: &Connection, r: &Request) -> Fields {
    let token = r.str("access_token")?;
    if let Some(user) = s.ctx.sessions.logout(token, Some(s.peer.id), unix_now())? {
        let entry = audit_entry(s, Actor::Module(r.origin.to_owned()), "logout");
        s.ctx.audit.record(entry.target(format!("user:{user}")));
    }
    Ok(Some(json!({"success": true})))
}

/// `message_module` and its `_response`: forwarded to the module `to`, with
/// `origin` set to the sender's authenticated name.
fn forward(s: &Connection, r: &Request) -> Fields {
    let to = r.str("to")?;
    if !s.ctx.hub.permissions.of(r.origin).may_message(to) {
        log::info!(
            "{}: {} to '{to}' refused by module_permissions",
            r.origin,
            r.kind
        );
        return match r.kind {
            "message_module" => Err(HubError::Denied),
            _ => Ok(None),
        };
    }
    let mut msg = r.inner.clone();
    msg.insert("origin".into(), Value::String(r.origin.to_owned()));
    let text = Value::Object(msg).to_string();
    if s.ctx.hub.peers.send_to(to, text.clone()) || s.ctx.hub.send_elsewhere(to, &text) {
        return Ok(None);
    }
    if r.kind == "message_module" {
        return Ok(Some(json!({"success": false, "reason": "module_offline"})));
    }
    log::info!("reply from '{}' to offline module dropped", r.origin);
    Ok(None)
}
