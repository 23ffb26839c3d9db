//! Two-factor sign-in with TOTP (docs/protocol.md, "Two-factor sign-in"):
//! enrolment from the user page, the login's second step, turning it off,
//! and the administrator's reset. The codes, secrets and challenges are
//! `auth::two_factor`'s; this file maps them to requests and answers.
//!
//! A login whose password (or Google ID token) was right ends here
//! (`after_first_factor`): a user with TOTP gets a challenge instead of a
//! session, and so does a user whose role `totp_required_roles` names but
//! who has no TOTP yet, whose second step is then enrolment.

use super::accounts::signed_in;
use super::caller::{admin_for, authenticate};
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use crate::audit::{Actor, Entry};
use crate::auth::two_factor::{Enrolment, TotpError, TwoFactor};
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::totp::Purpose;
use crate::db::users::{self, User};
use serde_json::{json, Value};
use std::borrow::Cow;

fn two_factor(ctx: &Ctx) -> TwoFactor<'_> {
    TwoFactor {
        db: &ctx.db,
        config: &ctx.config.totp,
    }
}

/// The answer to a step that did not happen; each has its reason word.
fn refused(e: TotpError) -> ApiError {
    match e {
        TotpError::NotConfigured => ApiError::new(503, "totp_not_configured"),
        TotpError::AlreadyEnabled => ApiError::conflict("totp_already_enabled"),
        TotpError::NotEnrolling => ApiError::conflict("totp_not_enrolling"),
        TotpError::NotEnabled => ApiError::conflict("totp_not_enabled"),
        TotpError::WrongCode => ApiError::unauthorized("totp_code_not_valid"),
        TotpError::CodeUsed => ApiError::unauthorized("totp_code_used"),
        TotpError::ChallengeNotValid => ApiError::unauthorized("totp_challenge_not_valid"),
        TotpError::TooMany(wait) => ApiError::too_many_attempts(wait),
        TotpError::Auth(e) => e.into(),
    }
}

/// After a right password or ID token: the session, or the second step.
pub fn after_first_factor(ctx: &Ctx, req: &Req, user: &User) -> Result<Reply, ApiError> {
    let tf = two_factor(ctx);
    let purpose = if tf.enabled(user.id).map_err(refused)? {
        Purpose::Code
    } else if ctx.config.totp.required_for(user.role.as_str()) {
        Purpose::Enrol
    } else {
        return signed_in(ctx, req, user);
    };
    let challenge = tf
        .issue_challenge(user.id, purpose, unix_now())
        .map_err(refused)?;
    Ok(Reply::ok(json!({
        "status": 200,
        "success": true,
        "totp_required": true,
        "totp_enrol": purpose == Purpose::Enrol,
        "challenge": challenge,
        "expires_in": ctx.config.totp.challenge_ttl.as_secs(),
    })))
}

/// POST /login/totp: `challenge`, `code` (six digits, or a recovery code),
/// `remember`. The session as a login gives it; after an enrolment, with
/// the recovery codes, shown this once.
pub fn login_step(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let challenge = req.require("challenge")?;
    let code = req.require("code")?;
    let step = two_factor(ctx).second_step(&ctx.totp_failures, challenge, code, unix_now());
    let passed = match step {
        Ok(passed) => passed,
        Err(e) => {
            let answer = refused(e.error);
            let actor = e.user_id.map_or(Actor::Anonymous, Actor::User);
            let entry = Entry::new(actor, "login_second_step").address(req.client());
            ctx.audit.record(entry.refused(answer.reason));
            return Err(answer);
        }
    };
    let user = users::by_id(&mut *ctx.db.conn()?, passed.user_id)?
        .ok_or(ApiError::unauthorized("totp_challenge_not_valid"))?
        .user;
    let entry = |action| Entry::new(Actor::User(user.id), action).address(req.client());
    ctx.audit.record(entry("login_second_step"));
    if passed.used_recovery_code {
        ctx.audit.record(entry("totp_recovery_code_used"));
        log::info!("user {} used a recovery code", user.id);
    }
    let reply = signed_in(ctx, req, &user)?;
    Ok(match passed.recovery_codes {
        Some(codes) => {
            ctx.audit.record(entry("totp_enrolled"));
            log::info!("user {} turned TOTP on at login", user.id);
            with_field(reply, "recovery_codes", json!(codes))
        }
        None => reply,
    })
}

/// `reply`'s JSON body with one more field.
fn with_field(mut reply: Reply, key: &str, value: Value) -> Reply {
    if let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&reply.body) {
        body.insert(key.to_owned(), value);
        reply.body = Cow::Owned(Value::Object(body).to_string().into_bytes());
    }
    reply
}

fn enrolment_json(e: &Enrolment) -> Value {
    json!({
        "status": 200,
        "success": true,
        "secret": e.secret,
        "otpauth_uri": e.uri,
        "qr_svg": e.qr_svg,
    })
}

/// POST /login/totp/enrol: `challenge` of a login that must enrol first.
pub fn login_enrol(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let challenge = req.require("challenge")?;
    let tf = two_factor(ctx);
    let now = unix_now();
    let user_id = tf.enrolling_user(challenge, now).map_err(refused)?;
    let user = users::by_id(&mut *ctx.db.conn()?, user_id)?
        .ok_or(ApiError::unauthorized("totp_challenge_not_valid"))?
        .user;
    let enrolment = tf.start(&user, now).map_err(refused)?;
    Ok(Reply::ok(enrolment_json(&enrolment)))
}

/// GET /totp: whether the caller has TOTP on, and what the page needs.
pub fn status(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let user = authenticate(ctx, req)?.user;
    let (enabled, left) = two_factor(ctx).status(user.id).map_err(refused)?;
    Ok(Reply::ok(json!({
        "status": 200,
        "success": true,
        "enabled": enabled,
        "recovery_codes_left": left,
        "configured": ctx.config.totp.key.is_some(),
        "required": ctx.config.totp.required_for(user.role.as_str()),
    })))
}

/// POST /totp/enrol: a new secret for the caller (not yet on).
pub fn enrol(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let user = authenticate(ctx, req)?.user;
    // `--dev`'s administrator has no row to hang a secret on.
    if users::by_id(&mut *ctx.db.conn()?, user.id)?.is_none() {
        return Err(ApiError::new(404, "user_not_found"));
    }
    let enrolment = two_factor(ctx).start(&user, unix_now()).map_err(refused)?;
    Ok(Reply::ok(enrolment_json(&enrolment)))
}

/// POST /totp/confirm: `code` of the new secret; turns TOTP on and answers
/// the recovery codes, this once.
pub fn confirm(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let user = authenticate(ctx, req)?.user;
    let code = req.require("code")?;
    let codes = two_factor(ctx)
        .confirm(user.id, code, unix_now())
        .map_err(refused)?;
    let entry = Entry::new(Actor::User(user.id), "totp_enrolled");
    ctx.audit.record(entry.address(req.client()));
    log::info!("user {} turned TOTP on", user.id);
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "recovery_codes": codes}),
    ))
}

/// POST /totp/disable: `password`, or `code` (a code or recovery code):
/// someone who found a signed-in browser cannot turn it off.
pub fn disable(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let user = authenticate(ctx, req)?.user;
    let entry = Entry::new(Actor::User(user.id), "totp_disabled").address(req.client());
    match turn_off(ctx, req, user.id) {
        Ok(()) => {
            ctx.audit.record(entry);
            log::info!("user {} turned TOTP off", user.id);
            Ok(Reply::ok(json!({"status": 200, "success": true})))
        }
        Err(e) => {
            ctx.audit.record(entry.refused(e.reason));
            Err(e)
        }
    }
}

/// The proof that `disable` asks for, then the removal.
fn turn_off(ctx: &Ctx, req: &Req, user_id: i32) -> Result<(), ApiError> {
    let tf = two_factor(ctx);
    let password = req.param("password").filter(|p| !p.is_empty());
    match (password, req.param("code").filter(|c| !c.is_empty())) {
        (Some(password), _) => check_password(ctx, user_id, password)?,
        (None, Some(code)) => {
            tf.check(user_id, code, unix_now()).map_err(refused)?;
        }
        (None, None) => return Err(ApiError::missing_parameter()),
    }
    if !tf.remove(user_id).map_err(refused)? {
        return Err(refused(TotpError::NotEnabled));
    }
    Ok(())
}

fn check_password(ctx: &Ctx, user_id: i32, password: &str) -> Result<(), ApiError> {
    let creds =
        users::by_id(&mut *ctx.db.conn()?, user_id)?.ok_or(ApiError::new(404, "user_not_found"))?;
    let Some(hash) = creds.password_hash() else {
        return Err(ApiError::bad_request("google_account_has_no_password"));
    };
    if !ctx.passwords.verify(password, hash) {
        return Err(ApiError::unauthorized("password_validation_failed"));
    }
    Ok(())
}

/// POST /users/totp/reset (admin): `user_id`. Removes the user's second
/// factor (a lost phone); a role that requires it enrols again at login.
pub fn admin_reset(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let admin = admin_for(ctx, req, "totp_reset")?.user;
    let user_id: i32 = req
        .require("user_id")?
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("user_id_not_valid"))?;
    if users::by_id(&mut *ctx.db.conn()?, user_id)?.is_none() {
        return Err(ApiError::new(404, "user_not_found"));
    }
    let removed = two_factor(ctx).remove(user_id).map_err(refused)?;
    let entry = Entry::new(Actor::User(admin.id), "totp_reset").target(format!("user:{user_id}"));
    ctx.audit.record(entry.address(req.client()));
    log::info!(
        "admin {} reset the second factor of user {user_id}",
        admin.id
    );
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "removed": removed}),
    ))
}
