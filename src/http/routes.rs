//! The route table: method and path to handler. Add a route by adding a line.
//! A path segment written `{name}` takes any one non-empty segment, which
//! the handler reads with [`path_param`]; everything else matches exactly.

use super::error::ApiError;
use super::reply::Reply;
use super::request::{Method, Req};
use super::{
    accounts, admin, admin_actions, google, health, metrics, pages, reset, sessions, templates,
    totp, verification,
};
use crate::ctx::Ctx;

type Handler = fn(&Ctx, &Req) -> Result<Reply, ApiError>;

/// Which pool runs a request. Handlers that compute bcrypt hashes run in a
/// small pool of their own, so a burst of logins cannot take every worker
/// (or every core) from the rest; handlers that may wait on another server
/// (the OpenID provider) run in another, so no fast worker ever waits on the
/// network.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lane {
    Fast,
    Hashing,
    Outbound,
}

/// Cheap checks that run on the fast lane before a request takes a place in
/// a slow lane, so that refused attempts (limits, missing fields) cost no
/// bcrypt and no queue place; they may also move the request to another
/// slow lane. The table's lane is the one they usually choose.
type Admit = fn(&Ctx, &Req) -> Result<Lane, ApiError>;

const ADMISSIONS: &[(Method, &str, Admit)] = &[
    (Method::Post, "/register", accounts::admit_register),
    (Method::Post, "/login", accounts::admit_login),
    (Method::Delete, "/delete_account", accounts::admit_deletion),
];

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
    (
        Method::Get,
        "/verify_email",
        Lane::Fast,
        pages::verify_email,
    ),
    (
        Method::Post,
        "/verify_email",
        Lane::Fast,
        verification::verify,
    ),
    (
        Method::Post,
        "/verify_email/resend",
        Lane::Fast,
        verification::resend,
    ),
    (
        Method::Post,
        "/users/verify",
        Lane::Fast,
        verification::admin_verify,
    ),
    (Method::Post, "/register", Lane::Hashing, accounts::register),
    (Method::Post, "/login", Lane::Hashing, accounts::login),
    (Method::Post, "/logout", Lane::Fast, sessions::logout),
    (Method::Post, "/login/totp", Lane::Fast, totp::login_step),
    (
        Method::Post,
        "/login/totp/enrol",
        Lane::Fast,
        totp::login_enrol,
    ),
    (Method::Get, "/totp", Lane::Fast, totp::status),
    (Method::Post, "/totp/enrol", Lane::Fast, totp::enrol),
    (Method::Post, "/totp/confirm", Lane::Fast, totp::confirm),
    (Method::Post, "/totp/disable", Lane::Hashing, totp::disable),
    (
        Method::Post,
        "/users/totp/reset",
        Lane::Fast,
        totp::admin_reset,
    ),
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
    (Method::Get, "/sessions", Lane::Fast, sessions::list),
    (Method::Delete, "/sessions/{id}", Lane::Fast, sessions::end),
    (Method::Post, "/password/forgot", Lane::Fast, reset::forgot),
    (
        Method::Post,
        "/forgot_password",
        Lane::Hashing,
        reset::reset_password,
    ),
    (
        Method::Post,
        "/google_signin",
        Lane::Outbound,
        google::signin,
    ),
    (Method::Get, "/auth/config", Lane::Fast, google::auth_config),
    (Method::Get, "/roles", Lane::Fast, admin::get_role),
    (Method::Post, "/roles", Lane::Fast, admin::set_role),
    (Method::Get, "/users", Lane::Fast, admin::list_users),
    (
        Method::Delete,
        "/users/{id}",
        Lane::Fast,
        admin_actions::delete_user,
    ),
    (
        Method::Post,
        "/users/{id}/sessions/end",
        Lane::Fast,
        admin_actions::end_sessions,
    ),
    (
        Method::Post,
        "/users/{id}/password_reset",
        Lane::Fast,
        admin_actions::password_reset,
    ),
    (
        Method::Get,
        "/execution/running",
        Lane::Fast,
        admin::running,
    ),
    (Method::Get, "/template", Lane::Fast, templates::get),
    (Method::Get, "/openapi.yaml", Lane::Fast, pages::openapi),
    (Method::Get, "/metrics", Lane::Fast, metrics::metrics),
    (Method::Get, "/healthz", Lane::Fast, health::healthz),
    (Method::Get, "/readyz", Lane::Fast, health::readyz),
    (Method::Get, "/health", Lane::Fast, health::health),
];

/// Probed every few seconds by monitors: their access lines are debug-level.
const QUIET: [&str; 3] = ["/healthz", "/readyz", "/health"];

const ASSET_PREFIXES: [&str; 4] = ["/css/", "/img/", "/html/", "/javascripts/"];

/// Served by the listener; a plain request for it gets a 400.
const WEBSOCKET: &str = "/websocket";

/// Every method and path this table answers (each `GET` answers `HEAD`
/// too), as docs/openapi.yaml names them: an asset folder as
/// `/css/{name}`. The API contract's test compares the two.
pub fn endpoints() -> Vec<(&'static str, String)> {
    let mut all: Vec<(&'static str, String)> = ROUTES
        .iter()
        .map(|(m, p, _, _)| (method_name(*m), (*p).to_owned()))
        .collect();
    all.push(("get", WEBSOCKET.to_owned()));
    all.extend(
        ASSET_PREFIXES
            .iter()
            .map(|p| ("get", format!("{p}{{name}}"))),
    );
    all
}

/// The method as an OpenAPI operation is named.
fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "get",
        Method::Head => "head",
        Method::Post => "post",
        Method::Put => "put",
        Method::Delete => "delete",
        Method::Other => "other",
    }
}

/// Whether `path` is one that `pattern` names: the same segments, a
/// `{name}` segment standing for any non-empty one.
fn matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('{') {
        return pattern == path;
    }
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if is_param(w) && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// The row of the route table that answers `method` on `path`.
fn row(method: Method, path: &str) -> Option<usize> {
    let method = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    ROUTES
        .iter()
        .position(|(m, p, _, _)| *m == method && matches(p, path))
}

/// The segment of the request's path that its route names `{name}`.
pub fn path_param<'r>(req: &'r Req, name: &str) -> Option<&'r str> {
    let (_, pattern, _, _) = ROUTES.get(row(req.method, &req.path)?)?;
    pattern
        .split('/')
        .zip(req.path.split('/'))
        .find(|(w, _)| is_param(w) && w[1..w.len() - 1] == *name)
        .map(|(_, segment)| segment)
}

fn find(method: Method, path: &str) -> Option<(Lane, Handler)> {
    let get = matches!(method, Method::Get | Method::Head);
    if get && ASSET_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Some((Lane::Fast, pages::asset));
    }
    let &(_, _, lane, handler) = ROUTES.get(row(method, path)?)?;
    Some((lane, handler))
}

/// Whether `path`'s access line is debug-level rather than info.
pub fn is_quiet(path: &str) -> bool {
    QUIET.contains(&path)
}

/// The lane a request is routed to, before its admission checks.
pub fn lane(method: Method, path: &str) -> Lane {
    find(method, path).map_or(Lane::Fast, |(lane, _)| lane)
}

/// The lane that runs `req` after its admission checks, or the answer that
/// refuses it at once.
pub fn admit(ctx: &Ctx, req: &Req, lane: Lane) -> Result<Lane, ApiError> {
    match ADMISSIONS
        .iter()
        .find(|(m, p, _)| *m == req.method && *p == req.path)
    {
        Some((_, _, admit)) => admit(ctx, req),
        None => Ok(lane),
    }
}

pub fn route(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    if let Some((_, handler)) = find(req.method, &req.path) {
        return handler(ctx, req);
    }
    if req.path == WEBSOCKET {
        // The listener serves WebSocket upgrades; a plain request ends here.
        return Err(ApiError::bad_request("websocket_upgrade_required"));
    }
    if ROUTES.iter().any(|(_, p, _, _)| matches(p, &req.path)) {
        return Err(ApiError::new(405, "method_not_allowed"));
    }
    Err(ApiError::new(404, "not_found"))
}

/// The slot of `/metrics`' request counters for a request: the route
/// table's row, then the asset prefixes, the WebSocket path, and last
/// everything no route takes (never the raw path: a client could make up
/// any number of paths).
pub fn metric_slot(method: Method, path: &str) -> usize {
    if let Some(i) = row(method, path) {
        return i;
    }
    let assets = ROUTES.len();
    if matches!(method, Method::Get | Method::Head) {
        if let Some(i) = ASSET_PREFIXES.iter().position(|p| path.starts_with(p)) {
            return assets + i;
        }
    }
    if path == WEBSOCKET {
        return assets + ASSET_PREFIXES.len();
    }
    UNROUTED_SLOT
}

/// The slot of requests that no route takes.
const UNROUTED_SLOT: usize = ROUTES.len() + ASSET_PREFIXES.len() + 1;
const _: () = assert!(UNROUTED_SLOT < crate::metrics::ROUTE_SLOTS);

/// A slot's method (`None`: any) and route pattern, as `/metrics` labels
/// them; `None` past the last slot.
pub fn metric_labels(slot: usize) -> Option<(Option<Method>, String)> {
    let assets = ROUTES.len();
    if let Some((m, p, _, _)) = ROUTES.get(slot) {
        return Some((Some(*m), (*p).to_owned()));
    }
    if let Some(prefix) = ASSET_PREFIXES.get(slot - assets) {
        return Some((Some(Method::Get), format!("{prefix}*")));
    }
    match slot - assets - ASSET_PREFIXES.len() {
        0 => Some((None, WEBSOCKET.to_owned())),
        1 => Some((None, UNROUTED.to_owned())),
        _ => None,
    }
}

/// The form of a request path (without its query) that a log line may
/// show: only what the route table knows. A client can type anything into
/// a path (`/login&password=...` has no `?` to cut at), so an unknown path
/// is a fixed word, or its first segment when that segment is a route's;
/// a path with a parameter is logged as its route's pattern.
pub fn loggable(path: &str) -> String {
    if path == WEBSOCKET || ROUTES.iter().any(|(_, p, _, _)| *p == path) {
        return path.to_owned();
    }
    if let Some((_, pattern, _, _)) = ROUTES.iter().find(|(_, p, _, _)| matches(p, path)) {
        return (*pattern).to_owned();
    }
    if let Some(prefix) = ASSET_PREFIXES.iter().find(|p| path.starts_with(**p)) {
        return match crate::web::asset(&path[1..]) {
            Some(_) => path.to_owned(),
            None => format!("{prefix}{UNKNOWN}"),
        };
    }
    let first = path.strip_prefix('/').and_then(|rest| rest.split_once('/'));
    match first {
        Some((segment, _)) if is_route_segment(segment) => format!("/{segment}/…"),
        _ => UNROUTED.to_owned(),
    }
}

/// Logged instead of an asset name that is not in the table.
const UNKNOWN: &str = "(unknown)";
/// Logged instead of a path that no route knows.
const UNROUTED: &str = "(unrouted)";

/// Whether `segment` is the first segment of a route's path.
fn is_route_segment(segment: &str) -> bool {
    !segment.is_empty()
        && ROUTES.iter().any(|(_, p, _, _)| {
            let rest = p.strip_prefix('/').unwrap_or(p);
            rest.split('/').next() == Some(segment)
        })
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
        assert_eq!(lane(Method::Post, "/google_signin"), Lane::Outbound);
    }

    #[test]
    fn a_parameter_takes_one_non_empty_segment() {
        assert!(matches("/sessions/{id}", "/sessions/abc"));
        assert!(!matches("/sessions/{id}", "/sessions/"));
        assert!(!matches("/sessions/{id}", "/sessions"));
        assert!(!matches("/sessions/{id}", "/sessions/abc/def"));
        assert!(matches("/users/{id}/sessions/end", "/users/7/sessions/end"));
        assert!(!matches(
            "/users/{id}/sessions/end",
            "/users/7/sessions/stop"
        ));
        assert!(!matches("/users/{id}", "/users"));
        assert!(find(Method::Delete, "/sessions/abc").is_some());
        assert!(find(Method::Get, "/sessions/abc").is_none());
        assert_eq!(
            metric_labels(metric_slot(Method::Delete, "/sessions/abc")),
            Some((Some(Method::Delete), "/sessions/{id}".into()))
        );
    }

    #[test]
    fn every_request_has_a_metric_slot_with_labels() {
        let login = metric_slot(Method::Post, "/login");
        assert_eq!(
            metric_labels(login),
            Some((Some(Method::Post), "/login".into()))
        );
        assert_eq!(
            metric_slot(Method::Head, "/main"),
            metric_slot(Method::Get, "/main")
        );
        let css = metric_slot(Method::Get, "/css/anything");
        assert_eq!(
            metric_labels(css),
            Some((Some(Method::Get), "/css/*".into()))
        );
        let ws = metric_slot(Method::Get, "/websocket");
        assert_eq!(metric_labels(ws), Some((None, "/websocket".into())));
        for path in ["/login&password=secret", "/nowhere"] {
            let slot = metric_slot(Method::Get, path);
            assert_eq!(metric_labels(slot), Some((None, "(unrouted)".into())));
        }
        assert_eq!(metric_slot(Method::Put, "/login"), UNROUTED_SLOT);
        assert_eq!(metric_labels(UNROUTED_SLOT + 1), None);
    }

    #[test]
    fn only_known_parts_of_a_path_are_logged() {
        for known in ["/login", "/password/change", "/websocket", "/css/style.css"] {
            assert_eq!(loggable(known), known);
        }
        assert_eq!(loggable("/sessions/0123abcd"), "/sessions/{id}");
        assert_eq!(
            loggable("/users/7/sessions/end"),
            "/users/{id}/sessions/end"
        );
        let cases = [
            ("/login&password=secret", "(unrouted)"),
            ("/login;password=secret", "(unrouted)"),
            ("/%70assword=secret", "(unrouted)"),
            ("/login/secret", "/login/…"),
            ("//secret", "(unrouted)"),
            ("/password/secret", "/password/…"),
            ("/css/secret.css", "/css/(unknown)"),
            ("/css/../secret", "/css/(unknown)"),
            ("", "(unrouted)"),
            ("secret", "(unrouted)"),
            ("/caf\u{e9}/secret", "(unrouted)"),
        ];
        for (path, logged) in cases {
            assert_eq!(loggable(path), logged, "{path}");
        }
    }
}
