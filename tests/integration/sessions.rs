//! The user's own sessions (docs/protocol.md §1, "Sessions"): the list
//! with address, user agent and `current`; ending one, or all with
//! `POST /logout` `all`; what modules hear of each; the same-origin check.

use crate::common;

use common::hub::{hub, T};
use common::original::{sha256_hex, start_v2};
use common::{Client, Server};
use serde_json::{json, Value};
use sse_platform::module_client::Connection;
use std::collections::HashSet;
use std::time::Instant;

const PASSWORD: &str = "sessions password 1";

/// Logs `name` in with `user_agent`; returns the token.
fn login_as(c: &Client, name: &str, user_agent: &str) -> String {
    let r = c
        .header("User-Agent", user_agent)
        .post_form("/login", &[("nickname", name), ("password", PASSWORD)]);
    r.ok_json()["access_token"].as_str().unwrap().to_owned()
}

fn sessions(c: &Client, token: &str) -> Vec<Value> {
    let v = c.token(token).get("/sessions").ok_json();
    v["sessions"].as_array().expect("sessions").clone()
}

/// The id under which `token`'s session is listed (its caller's `current`).
fn own_id(c: &Client, token: &str) -> String {
    let list = sessions(c, token);
    let me = list.iter().find(|s| s["current"] == true).expect("current");
    me["id"].as_str().unwrap().to_owned()
}

/// Reads until `session_ended` has named each token, each with `reason`.
fn assert_ended(conn: &mut Connection, tokens: &[&str], reason: &str) {
    let mut want: HashSet<String> = tokens.iter().map(|t| sha256_hex(t)).collect();
    let deadline = Instant::now() + T;
    while !want.is_empty() {
        assert!(Instant::now() < deadline, "no session_ended ({reason})");
        let Ok(Some(frame)) = conn.recv(std::time::Duration::from_millis(100)) else {
            continue;
        };
        let e = common::hub::parse(&frame);
        let hash = e["token_sha256"].as_str().unwrap_or_default();
        if e["type"] == "session_ended" && want.remove(hash) {
            assert_eq!(e["reason"], reason, "{e}");
        }
    }
}

#[test]
fn the_list_shows_address_user_agent_and_which_is_current() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    c.register("ada", PASSWORD);
    let phone = login_as(&c, "ada", "Phone/1.0 (tiny)");
    let long = "L".repeat(300);
    let laptop = login_as(&c, "ada", &long);

    let r = c.token(&laptop).get("/sessions");
    let list = sessions(&c, &laptop);
    assert_eq!(list.len(), 3, "registration, phone, laptop: {list:?}");
    let ua = |s: &Value| s["user_agent"].as_str().unwrap_or_default().to_owned();
    let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(ua(current[0]), "L".repeat(256), "capped");
    assert!(list.iter().any(|s| ua(s) == "Phone/1.0 (tiny)"), "{list:?}");
    for s in &list {
        assert_eq!(s["address"], "127.0.0.1", "{s}");
        let id = s["id"].as_str().unwrap();
        assert_eq!(id.len(), 32, "{s}");
        assert!(s["created_at"].as_i64().unwrap() <= s["last_seen"].as_i64().unwrap());
        assert!(s["expires_at"].as_i64().unwrap() > common::unix_now());
    }
    for token in [&phone, &laptop] {
        let hash = sha256_hex(token);
        assert!(!r.body.contains(token.as_str()), "no token in {}", r.body);
        assert!(!r.body.contains(&hash[..16]), "no token hash in {}", r.body);
    }
    c.get("/sessions").assert_error(401, "no_token");
}

#[test]
fn ending_one_session_ends_exactly_it_and_modules_hear_it() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let c = server.client();
    let a = c.register("bea", PASSWORD);
    let b = login_as(&c, "bea", "second");
    let d = login_as(&c, "bea", "third");
    let b_id = own_id(&c, &b);

    let r = c
        .token(&a)
        .request("DELETE", &format!("/sessions/{b_id}"), None, vec![]);
    assert_eq!(r.ok_json()["current"], false, "{}", r.body);
    assert!(r.set_cookie().is_none(), "the caller's cookie stays");
    assert_ended(&mut v2, &[&b], "ended_by_user");
    c.token(&b).get("/me").assert_error(401, "no_token");
    assert_eq!(c.token(&a).get("/me").status, 200);
    assert_eq!(c.token(&d).get("/me").status, 200);
    assert_eq!(sessions(&c, &a).len(), 2);
    c.token(&a)
        .request("DELETE", &format!("/sessions/{b_id}"), None, vec![])
        .assert_error(404, "session_not_found");

    // Its own session: the cookie goes too.
    let own = own_id(&c, &d);
    let r = c
        .token(&d)
        .request("DELETE", &format!("/sessions/{own}"), None, vec![]);
    assert_eq!(r.ok_json()["current"], true);
    assert_eq!(r.cookie_value().as_deref(), Some(""), "cookie cleared");
    assert_ended(&mut v2, &[&d], "ended_by_user");
    c.token(&d).get("/me").assert_error(401, "no_token");
    let user = c.token(&a).get("/me").ok_json()["user"]["id"].clone();
    let actor = format!("user:{user}");
    let audited = [actor.as_str(), "session_ended", &actor, "ok"];
    crate::admin_actions::assert_audited(&server, audited);
}

#[test]
fn another_users_session_id_is_not_found() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let alice = c.register("alice", PASSWORD);
    let bob = c.register("bob", PASSWORD);
    let alice_id = own_id(&c, &alice);
    let bob_c = c.token(&bob);
    for id in [
        alice_id.as_str(),
        "00",
        &"f".repeat(32),
        &"x".repeat(5000),
        "%2e%2e",
    ] {
        bob_c
            .request("DELETE", &format!("/sessions/{id}"), None, vec![])
            .assert_error(404, "session_not_found");
    }
    assert_eq!(c.token(&alice).get("/me").status, 200, "untouched");
    c.request("DELETE", &format!("/sessions/{alice_id}"), None, vec![])
        .assert_error(401, "no_token");
    bob_c
        .request("DELETE", "/sessions/", None, vec![])
        .assert_error(404, "not_found");
    bob_c
        .get(&format!("/sessions/{alice_id}"))
        .assert_error(405, "method_not_allowed");
}

#[test]
fn logout_all_ends_every_session_of_the_user_and_modules_hear_each() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let c = server.client();
    let a = c.register("cyd", PASSWORD);
    let b = login_as(&c, "cyd", "b");
    let other = c.register("dan", PASSWORD);

    let v = c
        .token(&a)
        .post_form("/logout", &[("all", "true")])
        .ok_json();
    assert_eq!(v["sessions_ended"], 2, "{v}");
    assert_ended(&mut v2, &[&a, &b], "logout");
    for token in [&a, &b] {
        c.token(token).get("/me").assert_error(401, "no_token");
    }
    assert_eq!(
        c.token(&other).get("/me").status,
        200,
        "another user's stays"
    );
}

#[test]
fn a_password_change_says_how_many_sessions_it_ended() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let a = c.register("eve", PASSWORD);
    let b = login_as(&c, "eve", "b");
    let r = c.token(&a).post_form(
        "/password/change",
        &[
            ("old_password", PASSWORD),
            ("new_password", "a new password 2"),
        ],
    );
    assert_eq!(r.ok_json()["sessions_ended"], 2, "{}", r.body);
    c.token(&b).get("/me").assert_error(401, "no_token");
}

#[test]
fn other_sites_cannot_end_sessions_with_the_cookie() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    c.register("fay", PASSWORD);
    let r = c.post_form("/login", &[("nickname", "fay"), ("password", PASSWORD)]);
    let token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    let cookie = r.cookie_value().unwrap();
    let id = own_id(&c, &token);
    let evil = c.cookie(&cookie).header("Origin", "https://evil.example");
    let cross = c.cookie(&cookie).header("Sec-Fetch-Site", "cross-site");
    for site in [&evil, &cross] {
        site.request("DELETE", &format!("/sessions/{id}"), None, vec![])
            .assert_error(403, "cross_origin_request");
        site.post_form("/logout", &[("all", "true")])
            .assert_error(403, "cross_origin_request");
    }
    assert_eq!(evil.get("/sessions").status, 200, "reading is fine");
    assert_eq!(c.token(&token).get("/me").status, 200, "still signed in");
    let own = format!("https://127.0.0.1:{}", server.port);
    let r = c.cookie(&cookie).header("Origin", &own).request(
        "DELETE",
        &format!("/sessions/{id}"),
        None,
        vec![],
    );
    assert_eq!(r.status, 200, "{}", r.body);
}
