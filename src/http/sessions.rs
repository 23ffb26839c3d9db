//! The caller's own sessions: where each was started, ending one of them
//! (`GET /sessions`, `DELETE /sessions/{id}`), and logging out of this one
//! or of all of them (`POST /logout`, `all`).

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
/// address and its user agent (see [`user_agent`]).
pub fn origin(ctx: &Ctx, req: &Req) -> Origin {
    let max = ctx.config.session_user_agent_max;
    Origin {
        address: req.peer.map(|p| p.ip().to_string()),
        user_agent: req.header("user-agent").and_then(|ua| user_agent(ua, max)),
    }
}

/// A user agent cut to `max` characters of printable ASCII (anything else
/// becomes `?`), so that a page can show it as text and no client can
/// store a novel in the table; `None` if nothing visible is left.
fn user_agent(text: &str, max: usize) -> Option<String> {
    let kept: String = text
        .chars()
        .take(max)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    (!kept.trim().is_empty()).then_some(kept)
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

/// POST /logout: ends the session if there is one, and with `all` every
/// session of its user; always clears the cookie.
pub fn logout(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let mut answer = json!({"status": 200, "success": true, "redirect_suggestions": ["/login"]});
    if let Some(token) = caller::token_for_change(ctx, req)? {
        if req.flag("all") {
            answer["sessions_ended"] = json!(logout_everywhere(ctx, req, &token)?);
        } else if let Some(user) = ctx.sessions.logout(&token, None, unix_now())? {
            let entry = Entry::new(Actor::User(user), "logout");
            ctx.audit.record(entry.address(req.client()));
        }
    }
    Ok(Reply::ok(answer).with_header("Set-Cookie", caller::clear_cookie(ctx, req)))
}

/// Ends every session of the user whose session `token` is; how many.
fn logout_everywhere(ctx: &Ctx, req: &Req, token: &str) -> Result<usize, ApiError> {
    let Some(session) = ctx.sessions.validate(token, unix_now())? else {
        return Ok(0);
    };
    let user_id = session.user.id;
    let n = caller::end_all_sessions(ctx, user_id, EndReason::Logout, Some(token))?;
    log::info!("user {user_id} logged out of {n} sessions");
    let entry = Entry::new(Actor::User(user_id), "logout_all");
    ctx.audit.record(entry.address(req.client()));
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::user_agent;

    #[test]
    fn user_agents_keep_printable_ascii_up_to_the_cap() {
        assert_eq!(
            user_agent("Firefox/1.0 (X11)", 256).as_deref(),
            Some("Firefox/1.0 (X11)")
        );
        assert_eq!(
            user_agent("caf\u{e9}\t\u{202e}x\0", 256).as_deref(),
            Some("caf???x?")
        );
        assert_eq!(
            user_agent(&"a".repeat(300), 256).map(|s| s.len()),
            Some(256)
        );
        assert_eq!(
            user_agent("\u{e9}\u{e9}", 1).as_deref(),
            Some("?"),
            "characters, not bytes"
        );
        assert_eq!(user_agent("   ", 256), None);
        assert_eq!(user_agent("anything", 0), None);
    }
}
