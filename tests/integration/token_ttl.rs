//! `update_token_ttl` (the 2021-11 original's): a module renews a user's
//! session. The sliding expiry moves; the absolute end never does.
//!
//! Session times are whole Unix seconds, so a session made at real time t
//! with a ttl of n seconds ends somewhere in (t + n - 1, t + n]; the waits
//! below keep half a second clear of either edge.

use crate::common;

use common::hub::*;
use common::unix_now;
use serde_json::{json, Value};
use sse_platform::module_client::{uuid4, Connection, Signer};
use std::time::{Duration, Instant};

/// Waits until `secs` after `t0`: here the condition is time itself.
fn at(t0: Instant, secs: f64) {
    let when = t0 + Duration::from_secs_f64(secs);
    if let Some(wait) = when.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

fn module(server: &common::Server) -> (Connection, Signer) {
    let mut conn = raw(server, "ListServ");
    assert_eq!(start_module(&mut conn, "ListServ", 8001)["success"], true);
    (conn, signer("ListServ"))
}

fn renew(conn: &mut Connection, s: &Signer, token: &str) -> Value {
    signed(
        conn,
        s,
        json!({"type": "update_token_ttl", "access_token": token}),
    )
}

fn is_valid(conn: &mut Connection, s: &Signer, token: &str) -> bool {
    let v = signed(
        conn,
        s,
        json!({"type": "token_validation", "access_token": token}),
    );
    v["success"] == true
}

#[test]
fn update_token_ttl_renews_the_sliding_expiry() {
    let server = hub(json!({"token_ttl_seconds": 4, "session_max_seconds": 600}));
    let (mut conn, s) = module(&server);
    let web = server.client();
    let renewed = web.register("erin", "erin-password");
    let left_alone = web.login("erin", "erin-password");
    let t0 = Instant::now();
    at(t0, 2.0);
    let v = renew(&mut conn, &s, &renewed);
    assert_eq!(v["type"], "update_token_ttl_response", "{v}");
    assert_eq!(v["success"], true, "{v}");
    assert!(v["resolve_id"].is_string(), "{v}");
    let expires = v["expires"].as_i64().expect("the new expiry");
    assert!(
        (unix_now() + 3..=unix_now() + 4).contains(&expires),
        "{expires}"
    );
    at(t0, 4.5);
    assert!(
        !is_valid(&mut conn, &s, &left_alone),
        "a session nobody renewed ended after its 4 s"
    );
    assert!(
        is_valid(&mut conn, &s, &renewed),
        "the renewed one lives on"
    );
}

/// With a ttl as long as the absolute cap, every renewal after the login
/// would pass the end: each one answers the end itself. (That the session
/// then dies at the end is SessionStore's unit test
/// `a_ttl_as_long_as_the_cap_gives_the_cap`; what an ended token gets is
/// the next test.)
#[test]
fn update_token_ttl_never_renews_past_the_absolute_end() {
    let server = hub(json!({"token_ttl_seconds": 6, "session_max_seconds": 6}));
    let (mut conn, s) = module(&server);
    let before = unix_now();
    let token = server.client().register("fred", "fred-password");
    let after = unix_now();
    for n in 0..3 {
        let v = renew(&mut conn, &s, &token);
        assert_eq!(v["success"], true, "renewal {n}: {v}");
        let expires = v["expires"].as_i64().expect("expires");
        assert!(
            (before + 6..=after + 6).contains(&expires),
            "renewal {n}: {expires} is not the absolute end ({before} + 6 s)"
        );
    }
    assert!(is_valid(&mut conn, &s, &token));
}

#[test]
fn update_token_ttl_of_an_unknown_or_ended_token_fails_with_a_reason() {
    let server = hub(json!({}));
    let (mut conn, s) = module(&server);
    let web = server.client();
    let token = web.register("gina", "gina-password");
    assert_eq!(web.token(&token).post("/logout").status, 200);
    let unknown = "A".repeat(43) + "=";
    for t in [
        token.as_str(),
        unknown.as_str(),
        "",
        "short",
        &"x".repeat(10_000),
    ] {
        let id = uuid4();
        let Value::Object(inner) = json!({"type": "update_token_ttl", "access_token": t}) else {
            unreachable!()
        };
        let v = exchange(&mut conn, s.envelope(inner, &id), Some(&id));
        assert_eq!(
            v,
            json!({"type": "update_token_ttl_response", "success": false,
                   "reason": "token_invalid", "resolve_id": id}),
            "{}",
            &t[..t.len().min(20)]
        );
    }
    for bad in [
        json!({"type": "update_token_ttl"}),
        json!({"type": "update_token_ttl", "access_token": 7}),
    ] {
        let v = signed(&mut conn, &s, bad);
        assert_eq!(v["type"], "update_token_ttl_response", "{v}");
        assert_eq!(v["reason"], "message_format_error", "{v}");
    }
    // And a live token still renews on the same connection.
    let live = web.login("gina", "gina-password");
    assert_eq!(renew(&mut conn, &s, &live)["success"], true);
}
