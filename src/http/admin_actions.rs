//! What an administrator does to another account over HTTP, each with a
//! confirmation on the admin page: end its sessions, delete it, send it a
//! password reset link. Each answers 403 `user_not_admin` to anyone else,
//! and, being cookie-authenticated from the page, passes the same-origin
//! check (`caller::authenticate`). The account is named by its id in the
//! path (`/users/{id}/...`); an id that is not a number is an unknown one.

use super::accounts::delete_user as delete_account_of;
use super::caller::{authenticate, end_all_sessions};
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::routes::path_param;
use crate::audit::{Actor, Entry};
use crate::auth::ended::EndReason;
use crate::auth::reset;
use crate::auth::sessions::Session;
use crate::ctx::Ctx;
use crate::db::users::{self, Role, User};
use serde_json::json;

const NO_USER: ApiError = ApiError::new(404, "user_not_found");

/// The administrator asking for `action`. Any other session is refused
/// with 403 (it is known, only not allowed), and the refusal recorded.
fn admin(ctx: &Ctx, req: &Req, action: &'static str) -> Result<Session, ApiError> {
    let session = authenticate(ctx, req)?;
    if session.user.role == Role::Admin {
        return Ok(session);
    }
    let refused = ApiError::new(403, "user_not_admin");
    let entry = Entry::new(Actor::User(session.user.id), action).address(req.client());
    ctx.audit.record(entry.refused(refused.reason));
    Err(refused)
}

/// Records what `admin` did to `user`.
fn record(ctx: &Ctx, req: &Req, admin: &Session, action: &'static str, user: &User) {
    let entry = Entry::new(Actor::User(admin.user.id), action)
        .target(format!("user:{}", user.id))
        .address(req.client());
    ctx.audit.record(entry);
}

/// The account the path names.
fn target(ctx: &Ctx, req: &Req) -> Result<User, ApiError> {
    let id: i32 = path_param(req, "id")
        .and_then(|id| id.parse().ok())
        .ok_or(NO_USER)?;
    let creds = users::by_id(&mut *ctx.db.conn()?, id)?.ok_or(NO_USER)?;
    Ok(creds.user)
}

/// POST /users/{id}/sessions/end (admin): ends every session of the user
/// (`ended_by_admin`); modules hear `session_ended` for each, then
/// `user_sessions_revoked`.
pub fn end_sessions(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let admin = admin(ctx, req, "sessions_ended")?;
    let user = target(ctx, req)?;
    let token = super::caller::token(ctx, req);
    let n = end_all_sessions(ctx, user.id, EndReason::EndedByAdmin, token.as_deref())?;
    log::info!(
        "admin {} ended {n} sessions of user {}",
        admin.user.id,
        user.id
    );
    record(ctx, req, &admin, "sessions_ended", &user);
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "sessions_ended": n}),
    ))
}

/// DELETE /users/{id} (admin): deletes the account as `DELETE
/// /delete_account` does; an administrator's own account is refused
/// here (it needs its password, there).
pub fn delete_user(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let admin = admin(ctx, req, "user_deleted")?;
    let user = target(ctx, req)?;
    if user.id == admin.user.id {
        return Err(ApiError::bad_request("cannot_delete_self"));
    }
    if !delete_account_of(ctx, user.id, None)? {
        return Err(NO_USER);
    }
    log::info!("admin {} deleted user {}", admin.user.id, user.id);
    record(ctx, req, &admin, "user_deleted", &user);
    Ok(Reply::ok(json!({"status": 200, "success": true})))
}

/// POST /users/{id}/password_reset (admin): mails the user a reset link
/// as `POST /password/forgot` would; with mail off, answers a one-time
/// link for the administrator to pass on (`link`, `expires_at`), valid
/// for `reset_ttl_seconds` and replacing any earlier one.
pub fn password_reset(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let admin = admin(ctx, req, "password_reset_link")?;
    let user = target(ctx, req)?;
    if user.google_user {
        return Err(ApiError::bad_request("google_account_has_no_password"));
    }
    if let Some(mail) = &ctx.mail {
        mail.request_reset(&user.email);
        record(ctx, req, &admin, "password_reset_mailed", &user);
        log::info!(
            "admin {} mailed a reset link to user {}",
            admin.user.id,
            user.id
        );
        return Ok(Reply::ok(
            json!({"status": 200, "success": true, "mailed": true}),
        ));
    }
    let (phrase, expires_at) = reset::issue(&ctx.db, user.id, ctx.config.reset.ttl)?;
    let link = format!(
        "{}/forgot_password?phrase={phrase}",
        ctx.config.public_url()
    );
    record(ctx, req, &admin, "password_reset_link", &user);
    log::info!(
        "admin {} made a reset link for user {}",
        admin.user.id,
        user.id
    );
    Ok(Reply::ok(json!({
        "status": 200, "success": true, "mailed": false,
        "link": link, "expires_at": expires_at,
    })))
}
