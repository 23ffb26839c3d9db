//! The route table: method and path to handler. Add a route by adding a line.

use super::error::ApiError;
use super::reply::Reply;
use super::request::{Method, Req};
use super::{accounts, admin, google, pages, reset};
use crate::ctx::Ctx;

type Handler = fn(&Ctx, &Req) -> Result<Reply, ApiError>;

/// Which pool runs a request. Handlers that compute bcrypt hashes run in a
/// small pool of their own, so a burst of logins cannot take every worker
/// (or every core) from the rest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lane {
    Fast,
    Hashing,
}

const ROUTES: &[(Method, &str, Lane, Handler)] = &[
    (Method::Get, "/", Lane::Fast, pages::root),
    (Method::Get, "/main", Lane::Fast, pages::main),
    (Method::Get, "/login", Lane::Fast, pages::login),
    (Method::Get, "/register", Lane::Fast, pages::login),
    (
        Method::Get,
        "/password/change",
        Lane::Fast,
        pages::password_change,
    ),
    (
        Method::Get,
        "/forgot_password",
        Lane::Fast,
        pages::forgot_password,
    ),
    (Method::Post, "/register", Lane::Hashing, accounts::register),
    (Method::Post, "/login", Lane::Hashing, accounts::login),
    (Method::Post, "/logout", Lane::Fast, accounts::logout),
    (
        Method::Post,
        "/password/change",
        Lane::Hashing,
        accounts::change_password,
    ),
    (
        Method::Delete,
        "/delete_account",
        Lane::Hashing,
        accounts::delete_account,
    ),
    (Method::Get, "/me", Lane::Fast, accounts::me),
    (Method::Post, "/password/forgot", Lane::Fast, reset::forgot),
    (
        Method::Post,
        "/forgot_password",
        Lane::Hashing,
        reset::reset_password,
    ),
    (Method::Post, "/google_signin", Lane::Fast, google::signin),
    (Method::Get, "/auth/config", Lane::Fast, google::auth_config),
    (Method::Get, "/roles", Lane::Fast, admin::get_role),
    (Method::Post, "/roles", Lane::Fast, admin::set_role),
    (Method::Get, "/users", Lane::Fast, admin::list_users),
    (
        Method::Get,
        "/execution/running",
        Lane::Fast,
        admin::running,
    ),
];

const ASSET_PREFIXES: [&str; 4] = ["/css/", "/img/", "/html/", "/javascripts/"];

fn find(method: Method, path: &str) -> Option<(Lane, Handler)> {
    let method = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    if method == Method::Get && ASSET_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Some((Lane::Fast, pages::asset));
    }
    ROUTES
        .iter()
        .find(|(m, p, _, _)| *m == method && *p == path)
        .map(|&(_, _, lane, handler)| (lane, handler))
}

pub fn lane(method: Method, path: &str) -> Lane {
    find(method, path).map_or(Lane::Fast, |(lane, _)| lane)
}

pub fn route(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    if let Some((_, handler)) = find(req.method, &req.path) {
        return handler(ctx, req);
    }
    if req.path == "/websocket" {
        // The listener serves WebSocket upgrades; a plain request ends here.
        return Err(ApiError::bad_request("websocket_upgrade_required"));
    }
    if ROUTES.iter().any(|(_, p, _, _)| *p == req.path) {
        return Err(ApiError::new(405, "method_not_allowed"));
    }
    Err(ApiError::new(404, "not_found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_and_lookup() {
        assert_eq!(lane(Method::Post, "/login"), Lane::Hashing);
        assert_eq!(lane(Method::Get, "/main"), Lane::Fast);
        assert!(find(Method::Head, "/login").is_some());
        assert!(
            find(Method::Get, "/css/../secret").is_some(),
            "looked up by name, not on disk"
        );
        assert!(find(Method::Get, "/nowhere").is_none());
    }
}
