//! HTML pages and static assets, embedded in the binary (see `web`).

use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::session::authenticate;
use crate::ctx::Ctx;
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
        Err(e) if e.status == 401 => return Ok(Reply::redirect("/login")),
        Err(e) => return Err(e),
    };
    let kind = if session.user.role == "admin" {
        "admin"
    } else {
        "user"
    };
    let html = String::from_utf8_lossy(page("html/main.html")?);
    let html = html.replacen("<body", &format!("<body data-page=\"{kind}\""), 1);
    Ok(Reply::page(Cow::Owned(html.into_bytes())))
}

/// GET /login and GET /register: one page with two tabs.
pub fn login(_ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::page(Cow::Borrowed(page("html/login.html")?)))
}

/// GET /password/change
pub fn password_change(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    match authenticate(ctx, req) {
        Ok(_) => Ok(Reply::page(Cow::Borrowed(page(
            "html/password_change.html",
        )?))),
        Err(e) if e.status == 401 => Ok(Reply::redirect("/login")),
        Err(e) => Err(e),
    }
}

/// GET /forgot_password?phrase=...
pub fn forgot_password(_ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::page(Cow::Borrowed(page(
        "html/forgot_password.html",
    )?)))
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

fn page(name: &str) -> Result<&'static [u8], ApiError> {
    web::asset(name).map(|(body, _)| body).ok_or_else(|| {
        log::error!("{name} is missing from the build");
        ApiError::internal()
    })
}
