//! Account handlers: register, login, password change, deletion and
//! "who am I". Passwords are checked in the hashing lane (see `routes`).

use super::caller::{self, authenticate};
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::routes::Lane;
use super::validate;
use super::verification;
use crate::audit::{Actor, Entry};
use crate::auth::ended::EndReason;
use crate::auth::sessions::Session;
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::users::{self, CreateError, Credentials, User};
use crate::db::DbError;
use crate::hub::Event;
use crate::metrics::METRICS;
use serde_json::json;
use std::time::Instant;

/// The fields of a registration, checked.
fn registration(req: &Req) -> Result<(&str, &str, &str), ApiError> {
    let email = req.require("email")?.trim();
    let nickname = req.require("nickname")?;
    let password = req.require("password")?;
    validate::email(email)?;
    validate::nickname(nickname)?;
    validate::new_password(password)?;
    Ok((email, nickname, password))
}

/// 409 when the email or the nickname (or a look-alike of it) is taken;
/// checked before hashing so that a taken name costs none, and again by
/// `users::create_with_password` with the insert.
fn check_free(ctx: &Ctx, email: &str, nickname: &str) -> Result<(), ApiError> {
    let mut conn = ctx.db.conn()?;
    if !users::by_email(&mut *conn, email)?.is_empty() {
        return Err(ApiError::conflict("email_already_exists"));
    }
    if users::name_taken(&mut *conn, nickname)? {
        return Err(ApiError::conflict("username_already_exists"));
    }
    Ok(())
}

/// Before a registration waits for hashing: the client address's
/// registrations in the window first (a flood of refused attempts must
/// cost no database work), then its fields and whether the names are free;
/// each attempt that gets this far counts, since each costs a bcrypt hash.
pub fn admit_register(ctx: &Ctx, req: &Req) -> Result<Lane, ApiError> {
    let client = req.client();
    ctx.register_per_address
        .check(&client, Instant::now())
        .map_err(ApiError::too_many_attempts)?;
    let (email, nickname, _) = registration(req)?;
    check_free(ctx, email, nickname)?;
    ctx.register_per_address
        .attempt(&client, Instant::now())
        .map_err(ApiError::too_many_attempts)?;
    Ok(Lane::Hashing)
}

/// POST /register: `email`, `nickname`, `password`.
pub fn register(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let (email, nickname, password) = registration(req)?;
    // Again: another registration may have taken a name since admission.
    check_free(ctx, email, nickname)?;
    // Hash without holding a database connection: it takes a quarter second.
    let hash = ctx.passwords.hash(password)?;
    let user = verification::create_account(ctx, email, nickname, &hash).map_err(taken)?;
    log::info!("registered user {}", user.id);
    if ctx.config.verification.required {
        return verification::registered(ctx, req, &user);
    }
    // A role that requires TOTP enrols before its first session.
    super::totp::after_first_factor(ctx, req, &user)
}

/// The answer to an account that cannot be created.
fn taken(e: CreateError) -> ApiError {
    match e {
        CreateError::EmailTaken => ApiError::conflict("email_already_exists"),
        CreateError::NameTaken => ApiError::conflict("username_already_exists"),
        CreateError::Db(e) => e.into(),
    }
}

/// Before a login waits for hashing: its fields and the failure limits of
/// the login name it gives.
pub fn admit_login(ctx: &Ctx, req: &Req) -> Result<Lane, ApiError> {
    let attempt = LoginAttempt::of(req)?;
    attempt.check(ctx, &attempt.account_key)?;
    Ok(Lane::Hashing)
}

/// POST /login: (`email` or `nickname`), `password`.
pub fn login(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let attempt = LoginAttempt::of(req)?;
    attempt.check(ctx, &attempt.account_key)?;
    let found = {
        let mut conn = ctx.db.conn()?;
        match (attempt.email, attempt.nickname) {
            (Some(e), _) => users::by_email(&mut *conn, e)?,
            (None, n) => users::by_name(&mut *conn, n.unwrap_or_default())?,
        }
    };
    // Counted per account too, so that switching between its email and its
    // nickname does not double the guesses.
    let account = match found.as_slice() {
        [one] => Some(one.user.id),
        _ => None,
    };
    let user_key = match account {
        Some(id) => format!("user:{id}"),
        None => attempt.account_key.clone(),
    };
    attempt.check(ctx, &user_key)?;
    let mut keys = vec![attempt.account_key.as_str()];
    if user_key != attempt.account_key {
        keys.push(&user_key);
    }
    match check_password(ctx, found, attempt.password) {
        Ok(creds) => {
            verification::allow_login(ctx, &creds.user, &attempt.address)?;
            METRICS.logins_succeeded.inc();
            for key in keys {
                ctx.login_pair_failures.forget(&attempt.pair(key));
            }
            upgrade_hash(ctx, &creds, attempt.password);
            let entry = Entry::new(Actor::User(creds.user.id), "login");
            ctx.audit.record(entry.address(&attempt.address));
            // With TOTP, `login_second_step` follows in the trail.
            super::totp::after_first_factor(ctx, req, &creds.user)
        }
        Err(e) => {
            METRICS.logins_failed.inc();
            // The account if one matched; never the name typed for none
            // (people type passwords into name fields).
            let mut entry = Entry::new(Actor::Anonymous, "login").address(&attempt.address);
            if let Some(id) = account {
                entry = entry.target(format!("user:{id}"));
            }
            ctx.audit.record(entry.refused(e.reason));
            let now = Instant::now();
            for key in keys {
                ctx.login_pair_failures.count(&attempt.pair(key), now);
                ctx.account_failures.count(key, now);
            }
            ctx.address_failures.count(&attempt.address, now);
            Err(e)
        }
    }
}

/// A login's name and password, and where it comes from. Failures count
/// three ways (OWASP's advice against lockout as denial of service): per
/// account and address, so that guesses from one place do not lock the
/// owner out elsewhere; per account, a much higher bound on guessing from
/// everywhere; and per address over all accounts.
struct LoginAttempt<'r> {
    password: &'r str,
    email: Option<&'r str>,
    nickname: Option<&'r str>,
    account_key: String,
    address: String,
}

impl<'r> LoginAttempt<'r> {
    fn of(req: &'r Req) -> Result<Self, ApiError> {
        let password = req.require("password")?;
        let email = req.param("email").map(str::trim).filter(|e| !e.is_empty());
        let nickname = req.param("nickname").filter(|n| !n.is_empty());
        let account_key = match (email, nickname) {
            (Some(e), _) => format!("email:{}", e.to_lowercase()),
            (None, Some(n)) => format!("name:{n}"),
            (None, None) => return Err(ApiError::missing_parameter()),
        };
        Ok(LoginAttempt {
            password,
            email,
            nickname,
            account_key,
            address: req.client(),
        })
    }

    /// The key of `account` from this address; an address has no `|`.
    fn pair(&self, account: &str) -> String {
        format!("{}|{account}", self.address)
    }

    /// 429 with `Retry-After` while any limit of `account` is used up.
    fn check(&self, ctx: &Ctx, account: &str) -> Result<(), ApiError> {
        let (pair, now) = (self.pair(account), Instant::now());
        ctx.login_pair_failures
            .check(&pair, now)
            .and_then(|()| ctx.account_failures.check(account, now))
            .and_then(|()| ctx.address_failures.check(&self.address, now))
            .map_err(ApiError::too_many_attempts)
    }
}

/// Exactly one account must match, and its password. Every path spends one
/// bcrypt verification, so timing does not tell which check failed.
fn check_password(
    ctx: &Ctx,
    mut found: Vec<Credentials>,
    password: &str,
) -> Result<Credentials, ApiError> {
    if found.len() != 1 {
        ctx.passwords.verify_nothing(password);
        let reason = if found.is_empty() {
            "user_not_found"
        } else {
            "login_ambiguous"
        };
        return Err(ApiError::conflict(reason));
    }
    let creds = found.remove(0);
    let Some(hash) = creds.password_hash() else {
        ctx.passwords.verify_nothing(password);
        return Err(ApiError::unauthorized("google_account_has_no_password"));
    };
    if !ctx.passwords.verify(password, hash) {
        return Err(ApiError::unauthorized("password_validation_failed"));
    }
    Ok(creds)
}

/// Re-hashes a password stored at a lower cost than configured. Failure is
/// harmless: the old hash still works, and the next login tries again.
fn upgrade_hash(ctx: &Ctx, creds: &Credentials, password: &str) {
    let Some(old) = creds.password_hash() else {
        return;
    };
    if !ctx.passwords.needs_rehash(old) {
        return;
    }
    let stored = ctx
        .passwords
        .rehash(password, old)
        .map_err(ApiError::from)
        .and_then(|h| {
            Ok(users::set_password(
                &mut *ctx.db.conn()?,
                creds.user.id,
                &h,
            )?)
        });
    match stored {
        Ok(()) => log::info!("upgraded password hash of user {}", creds.user.id),
        Err(e) => log::warn!("hash upgrade of user {} failed: {e}", creds.user.id),
    }
}

/// Starts a session and answers as the original did: the token in the body
/// and in the signed cookie, and `user_login` to the modules.
pub fn signed_in(ctx: &Ctx, req: &Req, user: &User) -> Result<Reply, ApiError> {
    let origin = super::sessions::origin(ctx, req);
    let (token, session) = ctx.sessions.create(user, &origin, unix_now())?;
    ctx.hub.broadcast(Event::UserLogin {
        user: user.clone(),
        token: token.clone(),
        session_expires: session.ends_at,
    });
    let cookie = caller::set_cookie(ctx, req, &token, req.flag("remember"));
    Ok(
        Reply::ok(json!({"status": 200, "success": true, "access_token": token}))
            .with_header("Set-Cookie", cookie),
    )
}

/// The account behind a session, with its password hash.
fn credentials(ctx: &Ctx, session: &Session) -> Result<Credentials, ApiError> {
    users::by_id(&mut *ctx.db.conn()?, session.user.id)?.ok_or(ApiError::new(404, "user_not_found"))
}

/// POST /password/change: `old_password`, `new_password`; ends every
/// session of the user, so they log in again.
pub fn change_password(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let session = authenticate(ctx, req)?;
    let old = req.require("old_password")?;
    let new = req.require("new_password")?;
    let creds = credentials(ctx, &session)?;
    let Some(hash) = creds.password_hash() else {
        return Err(ApiError::bad_request("google_account_has_no_password"));
    };
    if !ctx.passwords.verify(old, hash) {
        return Err(ApiError::bad_request("old_password_not_valid"));
    }
    validate::new_password(new)?;
    let new_hash = ctx.passwords.hash(new)?;
    users::set_password(&mut *ctx.db.conn()?, creds.user.id, &new_hash)?;
    let token = caller::token(ctx, req);
    let ended = caller::end_all_sessions(
        ctx,
        creds.user.id,
        EndReason::PasswordChanged,
        token.as_deref(),
    )?;
    log::info!("user {} changed the password", creds.user.id);
    let entry = Entry::new(Actor::User(creds.user.id), "password_changed");
    ctx.audit.record(entry.address(req.client()));
    let answer = json!({"status": 200, "success": true, "redirect": "/login",
                        "sessions_ended": ended});
    Ok(Reply::ok(answer).with_header("Set-Cookie", caller::clear_cookie(ctx, req)))
}

/// Before a deletion waits: the session, and which lane checks the
/// account's proof, bcrypt for a password, or the OpenID provider's keys
/// (which may have to be fetched) for a Google account.
pub fn admit_deletion(ctx: &Ctx, req: &Req) -> Result<Lane, ApiError> {
    let session = authenticate(ctx, req)?;
    let creds = credentials(ctx, &session)?;
    match creds.password_hash() {
        None => Ok(Lane::Outbound),
        Some(_) => Ok(Lane::Hashing),
    }
}

/// DELETE /delete_account: `password` (`id_token` for a Google account).
pub fn delete_account(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let session = authenticate(ctx, req)?;
    let creds = credentials(ctx, &session)?;
    match creds.password_hash() {
        // A Google account has no password: a fresh ID token confirms.
        None => super::google::confirm_deletion(ctx, req, &creds.user)?,
        Some(hash) => {
            let password = req.require("password")?;
            if !ctx.passwords.verify(password, hash) {
                return Err(ApiError::unauthorized("password_validation_failed"));
            }
        }
    }
    delete_user(ctx, creds.user.id, caller::token(ctx, req))?;
    log::info!("deleted user {}", creds.user.id);
    let entry = Entry::new(Actor::User(creds.user.id), "account_deleted");
    ctx.audit.record(entry.address(req.client()));
    Ok(Reply::no_content().with_header("Set-Cookie", caller::clear_cookie(ctx, req)))
}

/// Deletes an account and ends its sessions, and tells the modules
/// (`session_ended` for each, then `user_delete` naming `token` if the
/// deleting session's own); `false` if there was no such account.
pub fn delete_user(ctx: &Ctx, user_id: i32, token: Option<String>) -> Result<bool, ApiError> {
    // The sessions' rows go with the account (ON DELETE CASCADE), so they
    // are ended first, in the same transaction, to be reported.
    let mut conn = ctx.db.conn()?;
    let mut tx = conn.transaction().map_err(DbError::from)?;
    let ended = ctx
        .sessions
        .revoke_user_in(&mut tx, user_id, EndReason::AccountDeleted)?;
    if !users::delete(&mut tx, user_id)? {
        // Nothing was deleted: rolled back, so nothing is to be reported.
        drop(ended);
        return Ok(false);
    }
    tx.commit().map_err(DbError::from)?;
    drop(conn);
    ctx.sessions.announce(ended);
    ctx.hub.broadcast(Event::UserDelete { user_id, token });
    Ok(true)
}

/// GET /me: the signed-in user, for the pages.
pub fn me(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let user = authenticate(ctx, req)?.user;
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "user": user_json(&user)}),
    ))
}

pub fn user_json(user: &User) -> serde_json::Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role.as_str(),
        "google_user": user.google_user,
    })
}
