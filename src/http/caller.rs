//! Who is asking: the access token from the signed cookie or the
//! `Authorization` header, the session behind it, and the cookie we set.

use super::error::ApiError;
use super::request::{Method, Req};
use crate::auth::ended::EndReason;
use crate::auth::sessions::Session;
use crate::auth::token::TokenHash;
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::users::{Role, User};

pub const COOKIE: &str = "access_token";

/// Where a token came from; only cookies need CSRF checks.
#[derive(PartialEq, Eq)]
enum Source {
    Cookie,
    Header,
}

/// The token of the request: the signed cookie first, as the original did,
/// then the `Authorization` header, bare or with `Bearer `.
pub fn token(ctx: &Ctx, req: &Req) -> Option<String> {
    token_and_source(ctx, req).map(|(t, _)| t)
}

/// As [`token`], for a request that changes state without needing a live
/// session (logout): a cookie must come from our own pages, as in
/// [`authenticate`], and so must a request without a token in `--dev` mode,
/// where it stands for the administrator.
pub fn token_for_change(ctx: &Ctx, req: &Req) -> Result<Option<String>, ApiError> {
    match token_and_source(ctx, req) {
        Some((token, Source::Cookie)) => {
            check_same_origin(req)?;
            Ok(Some(token))
        }
        Some((token, Source::Header)) => Ok(Some(token)),
        None if ctx.dev => {
            check_same_origin(req)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

fn token_and_source(ctx: &Ctx, req: &Req) -> Option<(String, Source)> {
    if let Some(cookie) = req.cookie(COOKIE) {
        if let Some(token) = ctx.cookies.verify(COOKIE, cookie, unix_now()) {
            return Some((token, Source::Cookie));
        }
    }
    let header = req.header("authorization")?.trim();
    let token = header.strip_prefix("Bearer ").unwrap_or(header).trim();
    (!token.is_empty()).then(|| (token.to_owned(), Source::Header))
}

/// The live session of the request, or 401 `no_token`. In `--dev` mode a
/// request without a session acts as an administrator.
pub fn authenticate(ctx: &Ctx, req: &Req) -> Result<Session, ApiError> {
    let Some((token, source)) = token_and_source(ctx, req) else {
        return dev_session(ctx, req);
    };
    if source == Source::Cookie {
        check_same_origin(req)?;
    }
    match ctx.sessions.validate(&token, unix_now())? {
        Some(session) => Ok(session),
        None => dev_session(ctx, req),
    }
}

/// As [`authenticate`], and the user must be an administrator.
pub fn authenticate_admin(ctx: &Ctx, req: &Req) -> Result<Session, ApiError> {
    let session = authenticate(ctx, req)?;
    if session.user.role != Role::Admin {
        return Err(ApiError::unauthorized("user_not_admin"));
    }
    Ok(session)
}

/// A cookie rides along on cross-site requests, so a state change carried
/// by one must come from our own pages: browsers send `Origin` (and
/// `Sec-Fetch-Site`) on such requests, and both must agree with `Host`.
fn check_same_origin(req: &Req) -> Result<(), ApiError> {
    if matches!(req.method, Method::Get | Method::Head) {
        return Ok(());
    }
    let cross = ApiError::new(403, "cross_origin_request");
    if req
        .header("sec-fetch-site")
        .is_some_and(|s| s == "cross-site" || s == "same-site")
    {
        return Err(cross);
    }
    if let (Some(origin), Some(host)) = (req.header("origin"), req.header("host")) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if !origin_host.eq_ignore_ascii_case(host) {
            return Err(cross);
        }
    }
    Ok(())
}

/// The administrator that `--dev` lends a request without a session, or
/// 401 `no_token`. Like a cookie, it needs no token, so any page the browser
/// visits could use it: a state change must pass the same-origin check.
fn dev_session(ctx: &Ctx, req: &Req) -> Result<Session, ApiError> {
    if !ctx.dev {
        return Err(ApiError::unauthorized("no_token"));
    }
    check_same_origin(req)?;
    Ok(Session {
        user: User {
            id: 0,
            name: "dev".into(),
            email: "dev@localhost".into(),
            role: Role::Admin,
            google_user: false,
        },
        token_hash: TokenHash([0; 32]),
        expires_at: i64::MAX,
        ends_at: i64::MAX,
    })
}

/// `Set-Cookie` for a new session. "Remember me" keeps the cookie beyond the
/// browser session, but never past the session's absolute end.
pub fn set_cookie(ctx: &Ctx, req: &Req, token: &str, remember: bool) -> String {
    let value = ctx.cookies.sign(COOKIE, token, unix_now());
    let mut cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure(ctx, req) {
        cookie.push_str("; Secure");
    }
    if remember {
        cookie.push_str(&format!("; Max-Age={}", ctx.config.session_max.as_secs()));
    }
    cookie
}

pub fn clear_cookie(ctx: &Ctx, req: &Req) -> String {
    let secure = if secure(ctx, req) { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}")
}

/// `cookie_secure`; by default, whether browsers reach us over HTTPS
/// (`Config::cookie_secure`; a request over TLS implies that we serve TLS).
fn secure(ctx: &Ctx, _req: &Req) -> bool {
    ctx.config.cookie_secure()
}

/// Ends every session of a user (password change, logout everywhere, an
/// administrator) and tells the modules, so that they drop the user's
/// cached tokens; `token` is the caller's own, which the original's
/// `user_logout` names. Returns how many ended.
pub fn end_all_sessions(
    ctx: &Ctx,
    user_id: i32,
    reason: EndReason,
    token: Option<&str>,
) -> Result<usize, ApiError> {
    let n = ctx.sessions.revoke_user(user_id, reason, token)?;
    ctx.hub
        .broadcast(crate::hub::Event::UserSessionsRevoked { user_id });
    Ok(n)
}
