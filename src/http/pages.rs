//! HTML pages, static assets and the API contract, embedded in the binary
//! (see `web`).

use super::caller::authenticate;
use super::error::ApiError;
use super::google;
use super::reply::Reply;
use super::request::Req;
use crate::ctx::Ctx;
use crate::db::users::Role;
use crate::web;
use std::borrow::Cow;

/// GET /
pub fn root(_ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::redirect("/main"))
}

/// GET /main: the admin page for admins, the user page otherwise, the login
/// page for everyone else. One document serves both: `data-page` on its
/// body tells the scripts which parts to show.
pub fn main(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let session = match authenticate(ctx, req) {
        Ok(session) => session,
        Err(e) if e.status == 401 => return Ok(to_login(ctx, req)),
        Err(e) => return Err(e),
    };
    let kind = if session.user.role == Role::Admin {
        "admin"
    } else {
        "user"
    };
    let html = String::from_utf8_lossy(page("html/main.html")?);
    let html = html.replacen("<body", &format!("<body data-page=\"{kind}\""), 1);
    // Google accounts confirm their deletion with Google's button.
    Ok(with_google(ctx, Reply::page(Cow::Owned(html.into_bytes()))))
}

/// To the login page; with a note when the session it came with has ended
/// (a string that cannot be a token never was a session).
fn to_login(ctx: &Ctx, req: &Req) -> Reply {
    let token = super::caller::token(ctx, req);
    if token.is_some_and(|t| crate::auth::token::looks_like_token(&t)) {
        Reply::redirect("/login?expired=1")
    } else {
        Reply::redirect("/login")
    }
}

fn with_google(ctx: &Ctx, reply: Reply) -> Reply {
    if google::google_client_id(ctx).is_some() {
        reply.allowing_google_signin()
    } else {
        reply
    }
}

/// GET /login and GET /register: one page with two tabs.
pub fn login(ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    let reply = Reply::page(Cow::Borrowed(page("html/login.html")?));
    Ok(with_google(ctx, reply))
}

/// GET /password/change
pub fn password_change(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    match authenticate(ctx, req) {
        Ok(_) => Ok(Reply::page(Cow::Borrowed(page(
            "html/password_change.html",
        )?))),
        Err(e) if e.status == 401 => Ok(to_login(ctx, req)),
        Err(e) => Err(e),
    }
}

/// GET /forgot_password?phrase=...
pub fn forgot_password(_ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::page(Cow::Borrowed(page(
        "html/forgot_password.html",
    )?)))
}

/// GET /verify_email?token=...: a page whose button uses the link, so
/// that a mail scanner fetching it uses nothing.
pub fn verify_email(_ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::page(Cow::Borrowed(page("html/verify_email.html")?)))
}

/// GET /css/*, /img/*, /html/*, /javascripts/*: only names in the embedded
/// table exist, so no path can reach outside it.
pub fn asset(_ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let name = req.path.trim_start_matches('/');
    let (body, content_type) = web::asset(name).ok_or(ApiError::new(404, "not_found"))?;
    if content_type.starts_with("text/html") {
        return Ok(Reply::page(Cow::Borrowed(body)));
    }
    Ok(Reply::asset(body, content_type))
}

/// The API contract, docs/openapi.yaml, as built into this binary.
const OPENAPI: &str = include_str!("../../docs/openapi.yaml");

/// GET /openapi.yaml
pub fn openapi(_ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::asset(OPENAPI.as_bytes(), "application/yaml"))
}

fn page(name: &str) -> Result<&'static [u8], ApiError> {
    web::asset(name).map(|(body, _)| body).ok_or_else(|| {
        log::error!("{name} is missing from the build");
        ApiError::internal()
    })
}
