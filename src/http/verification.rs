//! E-mail verification (`require_email_verification`, docs/protocol.md):
//! a self-registered account gets a mailed link and cannot log in before
//! it is used.
//!
//! The link (`GET /verify_email?token=...`) opens a page whose button
//! POSTs the token to `POST /verify_email`, as reset links do: mail
//! scanners that fetch every link in a mail must not use it up. Asking for
//! a link again (`POST /verify_email/resend`) answers 204 before anything
//! is looked up, like `POST /password/forgot`, so it tells nobody whether
//! an address has an account or is verified; the mail thread decides.

use super::caller::admin_for;
use super::error::ApiError;
use super::mail_request;
use super::reply::Reply;
use super::request::Req;
use crate::audit::{Actor, Entry};
use crate::auth::verification;
use crate::ctx::Ctx;
use crate::db::users::{self, CreateError, Role, User};
use crate::db::verifications;
use serde_json::json;

/// Creates a registering password account: unverified while verification
/// is required, else as every other account (verified).
pub fn create_account(ctx: &Ctx, email: &str, name: &str, hash: &str) -> Result<User, CreateError> {
    let mut conn = ctx.db.conn()?;
    if ctx.config.verification.required {
        verifications::create_unverified(&mut *conn, email, name, hash, Role::Guest)
    } else {
        users::create_with_password(&mut *conn, email, name, hash, Role::Guest)
    }
}

/// The answer to a registration that must verify first: no token, no
/// cookie, and the link on its way.
pub fn registered(ctx: &Ctx, req: &Req, user: &User) -> Result<Reply, ApiError> {
    let Some(mail) = &ctx.mail else {
        // Config::load refuses the option without mail; nothing to send with.
        return Err(ApiError::new(503, "mail_not_configured"));
    };
    mail.request_verification(&user.email);
    let entry = Entry::new(Actor::User(user.id), "email_verification_requested");
    ctx.audit.record(entry.address(req.client()));
    Ok(Reply::ok(json!({
        "status": 200,
        "success": true,
        "verification_required": true,
        "redirect": "/login?verify=1",
    })))
}

/// At a login whose password was right: 403 `email_not_verified` for an
/// account that has not used its link while verification is required.
/// Costs no bcrypt of its own: the password was checked already.
pub fn allow_login(ctx: &Ctx, user: &User, address: &str) -> Result<(), ApiError> {
    if !ctx.config.verification.required {
        return Ok(());
    }
    if verifications::is_verified(&mut *ctx.db.conn()?, user.id)? != Some(false) {
        return Ok(());
    }
    let refusal = ApiError::new(403, "email_not_verified");
    let entry = Entry::new(Actor::Anonymous, "login").target(format!("user:{}", user.id));
    ctx.audit
        .record(entry.address(address).refused(refusal.reason));
    Err(refusal)
}

/// POST /verify_email/resend: `email`. Limited per e-mail and per client
/// address; every request counts, whether the address has an account or not.
pub fn resend(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let Some(mail) = &ctx.mail else {
        return Err(ApiError::new(503, "mail_not_configured"));
    };
    let entry = Entry::new(Actor::Anonymous, "email_verification_requested").address(req.client());
    let limits = (&ctx.verify_per_email, &ctx.verify_per_address);
    let email = mail_request::admit(ctx, req, limits.0, limits.1).inspect_err(|e| {
        if e.status == 429 {
            ctx.audit.record(entry.clone().refused(e.reason));
        }
    })?;
    mail.request_verification(email);
    ctx.audit.record(entry);
    Ok(Reply::no_content())
}

/// POST /verify_email: `token`. Uses the link up and marks the account
/// verified; 400 `token_not_valid` for an unknown, used or expired link.
pub fn verify(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let token = req.require("token")?.trim();
    let Some(user_id) = verification::redeem(&ctx.db, token)? else {
        return Err(ApiError::bad_request("token_not_valid"));
    };
    let entry = Entry::new(Actor::User(user_id), "email_verified");
    ctx.audit.record(entry.address(req.client()));
    log::info!("accounts: user {user_id} verified the e-mail address");
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "redirect": "/login?verified=1"}),
    ))
}

/// POST /users/verify (admin): `user_id`. Marks an account verified (and
/// drops its pending link), e.g. for a user whose mail never arrives.
pub fn admin_verify(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let admin = admin_for(ctx, req, "email_verified_by_admin")?;
    let user_id: i32 = req
        .require("user_id")?
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("user_id_not_valid"))?;
    if !verifications::set_verified(&mut *ctx.db.conn()?, user_id)? {
        return Err(ApiError::new(404, "user_not_found"));
    }
    let entry = Entry::new(Actor::User(admin.user.id), "email_verified_by_admin")
        .target(format!("user:{user_id}"))
        .address(req.client());
    ctx.audit.record(entry);
    log::info!("accounts: an admin marked user {user_id} verified");
    Ok(Reply::ok(json!({"status": 200, "success": true})))
}
