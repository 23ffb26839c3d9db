//! Password reset by mail (docs/protocol.md §1): `POST /password/forgot` asks
//! for a link, `POST /forgot_password` uses it (the page at
//! `GET /forgot_password` is in `pages`).
//!
//! Asking answers 204 before anything is looked up: the mail thread finds
//! the account, so a known and an unknown address get the same answer at
//! the same speed, and a slow or absent mail server delays nobody.

use super::caller;
use super::error::ApiError;
use super::mail_request;
use super::reply::Reply;
use super::request::Req;
use super::validate;
use crate::audit::{Actor, Entry};
use crate::auth::reset;
use crate::ctx::Ctx;
use crate::hub::Event;
use serde_json::json;

/// POST /password/forgot: `email`.
pub fn forgot(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let Some(mail) = &ctx.mail else {
        return Err(ApiError::new(503, "mail_not_configured"));
    };
    let email = mail_request::admit(ctx, req, &ctx.reset_per_email, &ctx.reset_per_address)?;
    mail.request_reset(email);
    Ok(Reply::no_content())
}

/// POST /forgot_password: `phrase`, `new_password`. Sets the password, uses
/// the phrase up and ends every session of the user.
pub fn reset_password(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let phrase = req.require("phrase")?.trim();
    let new = req.require("new_password")?;
    validate::new_password(new)?;
    let not_valid = ApiError::bad_request("phrase_not_valid");
    // Cheap check first: a wrong phrase must not cost a bcrypt hash.
    if !reset::is_valid(&ctx.db, phrase)? {
        return Err(not_valid);
    }
    let hash = ctx.passwords.hash(new)?;
    let Some(user_id) = reset::redeem(&ctx.db, &ctx.sessions, phrase, &hash)? else {
        // Used or expired between the check and now.
        return Err(not_valid);
    };
    ctx.hub.broadcast(Event::UserSessionsRevoked { user_id });
    log::info!("accounts: user {user_id} reset the password by mail");
    let entry =
        Entry::new(Actor::User(user_id), "password_reset").target(format!("user:{user_id}"));
    ctx.audit.record(entry.address(req.client()));
    Ok(
        Reply::ok(json!({"status": 200, "success": true, "redirect": "/login"}))
            .with_header("Set-Cookie", caller::clear_cookie(ctx, req)),
    )
}
