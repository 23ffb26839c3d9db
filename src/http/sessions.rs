//! The caller's own sessions: where each was started, and ending one of
//! them (`GET /sessions`, `DELETE /sessions/{id}`). Logging out of all of
//! them is `POST /logout` with `all` (in `accounts`).

use super::caller::{self, authenticate};
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::routes::path_param;
use crate::audit::{Actor, Entry};
use crate::auth::ended::EndReason;
use crate::auth::sessions::Listed;
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::sessions::Origin;
use serde_json::{json, Value};

/// Where a login comes from, as its session keeps it: the client's
/// address, and its user agent cut to `session_user_agent_max_chars` of
/// printable ASCII (anything else becomes `?`), so that a page can show it
/// as text and no client can store a novel in the table.
pub fn origin(ctx: &Ctx, req: &Req) -> Origin {
    let max = ctx.config.session_user_agent_max;
    let user_agent = req
        .header("user-agent")
        .map(|ua| {
            ua.chars()
                .take(max)
                .map(|c| {
                    if c == ' ' || c.is_ascii_graphic() {
                        c
                    } else {
                        '?'
                    }
                })
                .collect::<String>()
        })
        .filter(|ua| !ua.trim().is_empty());
    Origin {
        address: req.peer.map(|p| p.ip().to_string()),
        user_agent,
    }
}

/// GET /sessions: the caller's live sessions, oldest first; `current`
/// marks the one this request uses.
pub fn list(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let session = authenticate(ctx, req)?;
    let list: Vec<Value> = ctx
        .sessions
        .list_user(session.user.id, unix_now())?
        .iter()
        .map(|s| session_json(s, s.token_hash == session.token_hash))
        .collect();
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "sessions": list}),
    ))
}

fn session_json(s: &Listed, current: bool) -> Value {
    json!({
        "id": s.id,
        "created_at": s.created_at,
        "last_seen": s.last_seen,
        "expires_at": s.expires_at,
        "address": s.origin.address,
        "user_agent": s.origin.user_agent,
        "current": current,
    })
}

/// DELETE /sessions/{id}: ends one of the caller's sessions (the one this
/// request uses too, which then clears the cookie). Another user's id is
/// answered as an unknown one.
pub fn end(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let session = authenticate(ctx, req)?;
    let id = path_param(req, "id").unwrap_or_default();
    let token = caller::token(ctx, req);
    let user_id = session.user.id;
    let ended = ctx
        .sessions
        .end_listed(user_id, id, EndReason::EndedByUser, token.as_deref())?;
    let entry = Entry::new(Actor::User(user_id), "session_ended")
        .target(format!("user:{user_id}"))
        .address(req.client());
    if !ended {
        ctx.audit.record(entry.refused("session_not_found"));
        return Err(ApiError::new(404, "session_not_found"));
    }
    ctx.audit.record(entry);
    log::info!("user {user_id} ended one of their sessions");
    let current = crate::auth::sessions::public_id(&session.token_hash) == id;
    let reply = Reply::ok(json!({"status": 200, "success": true, "current": current}));
    Ok(if current {
        reply.with_header("Set-Cookie", caller::clear_cookie(ctx, req))
    } else {
        reply
    })
}
