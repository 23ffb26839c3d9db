//! Protocol 2 (a `module_start` with `"protocol": 2`): `session_ended` for
//! every way a session ends, `session_expires`, presence, and
//! `module_permissions`; against the real server and PostgreSQL.

use crate::common;

use common::hub::*;
use common::original::*;
use common::smtp::SmtpSink;
use common::unix_now;
use serde_json::{json, Value};
use sse_platform::module_client::Connection;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(300);

/// Reads until a `session_ended` has named each of `tokens`, each with
/// `reason`; other frames are skipped.
fn assert_ended(conn: &mut Connection, tokens: &[&str], reason: &str) {
    let mut want: HashSet<String> = tokens.iter().map(|t| sha256_hex(t)).collect();
    let deadline = Instant::now() + T;
    while !want.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no session_ended ({reason}) in time"
        );
        let Ok(Some(frame)) = conn.recv(Duration::from_millis(100)) else {
            continue;
        };
        let e = parse(&frame);
        let hash = e["token_sha256"].as_str().unwrap_or_default();
        if e["type"] != "session_ended" || !want.remove(hash) {
            continue;
        }
        assert_eq!(e["reason"], reason, "{e}");
        assert!(e["userid"].as_i64().is_some(), "{e}");
        assert!(e["resolve_id"].as_str().is_some(), "{e}");
        assert!(e.get("access_token").is_none(), "only the hash: {e}");
    }
}

#[test]
fn session_ended_for_logout_password_change_reset_deletion_and_module_logout() {
    let sink = SmtpSink::start();
    let server = hub(json!({"smtp": sink.config(), "public_url": "https://lab.example"}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let web = server.client();

    let a = web.register("kim", "kim-password-1");
    web.token(&a).post("/logout").ok_json();
    assert_ended(&mut v2, &[&a], "logout");

    let b = web.login("kim", "kim-password-1");
    let v = signed(
        &mut raw(&server, "SocialServ"),
        &signer("SocialServ"),
        json!({"type": "user_logout", "access_token": b}),
    );
    assert_eq!(v["success"], true);
    assert_ended(&mut v2, &[&b], "logout");

    let c = web.login("kim", "kim-password-1");
    let d = web.login("kim", "kim-password-1");
    let r = web.token(&c).post_form(
        "/password/change",
        &[
            ("old_password", "kim-password-1"),
            ("new_password", "kim-password-2"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ended(&mut v2, &[&c, &d], "password_changed");

    let e = web.login("kim", "kim-password-2");
    reset_by_mail(&server, &sink, 0, "kim@example.org", "kim-password-3");
    assert_ended(&mut v2, &[&e], "password_reset");

    let f = web.login("kim", "kim-password-3");
    let g = web.login("kim", "kim-password-3");
    let r = web
        .token(&f)
        .delete_form("/delete_account", &[("password", "kim-password-3")]);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_ended(&mut v2, &[&f, &g], "account_deleted");
}

#[test]
fn session_ended_for_idle_expiry_and_the_absolute_cap() {
    let server = hub(json!({
        "token_ttl_seconds": 2, "session_max_seconds": 4, "session_sweep_seconds": 1,
    }));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let web = server.client();
    let idle = web.register("lou", "lou-password-1");
    // The janitor finds it: nobody uses the token again.
    assert_ended(&mut v2, &[&idle], "expired");
    let busy = web.login("lou", "lou-password-1");
    let mut validator = raw(&server, "SocialServ");
    let s = signer("SocialServ");
    let deadline = Instant::now() + Duration::from_secs(15);
    // Kept in use, it still ends at the absolute cap.
    loop {
        let v = signed(
            &mut validator,
            &s,
            json!({"type": "token_validation", "access_token": busy}),
        );
        if v["success"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "never ended");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_ended(&mut v2, &[&busy], "absolute_cap");
}

#[test]
fn original_connections_hear_user_logout_only_where_the_original_sent_it() {
    let server = hub(json!({}));
    let mut original = OriginalClient::start(&server, "ListServ", 8001);
    let web = server.client();
    let a = web.register("max", "max-password-1");
    let b = web.login("max", "max-password-1");
    web.token(&a).post("/logout").ok_json();
    let r = web.token(&b).post_form(
        "/password/change",
        &[
            ("old_password", "max-password-1"),
            ("new_password", "max-password-2"),
        ],
    );
    assert_eq!(r.status, 200);
    let c = web.login("max", "max-password-2");
    web.token(&c)
        .delete_form("/delete_account", &[("password", "max-password-2")]);
    original.pump(SHORT);
    original.assert_alive();
    let logouts: Vec<&str> = original
        .seen
        .iter()
        .filter(|m| m["type"] == "user_logout")
        .filter_map(|m| m["access_token"].as_str())
        .collect();
    assert_eq!(
        logouts,
        vec![a.as_str(), b.as_str()],
        "logout and password change"
    );
    let delete = original.seen.iter().find(|m| m["type"] == "user_delete");
    assert_eq!(delete.map(|m| m["access_token"].clone()), Some(json!(c)));
    assert!(
        original.seen.iter().all(original_may_receive),
        "{:?}",
        original.seen
    );
}

#[test]
fn session_expires_for_protocol_2_only() {
    let server = hub(json!({"session_max_seconds": 7200}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let mut original = raw(&server, "SocialServ");
    start_module(&mut original, "SocialServ", 8002);
    let before = unix_now();
    let token = server.client().register("ned", "ned-password-1");
    let login = frames_until(&mut v2, T, |m| m["type"] == "user_login").pop();
    let expires = login.as_ref().and_then(|m| m["session_expires"].as_i64());
    let expires = expires.unwrap_or_else(|| panic!("no session_expires: {login:?}"));
    assert!(
        (before + 7200..=unix_now() + 7200).contains(&expires),
        "{expires}"
    );
    let v = signed(
        &mut v2,
        &signer("ListServ"),
        json!({"type": "token_validation", "access_token": token}),
    );
    assert_eq!(v["session_expires"], expires, "{v}");
    let old = drain(&mut original, SHORT);
    let login = old.iter().find(|m| m["type"] == "user_login").cloned();
    assert!(login.is_some_and(|m| m.get("session_expires").is_none()));
    let v = signed(
        &mut original,
        &signer("SocialServ"),
        json!({"type": "token_validation", "access_token": token}),
    );
    assert_eq!(v["success"], true);
    assert!(v.get("session_expires").is_none(), "{v}");
}

#[test]
fn protocol_2_modules_hear_modules_start_and_stop() {
    let server = hub(json!({}));
    let mut watcher = start_v2(&server, "ListServ", 8001);
    let mut original = OriginalClient::start(&server, "chatsystem", 8003);
    let mut other = raw(&server, "SocialServ");
    let v = signed(
        &mut other,
        &signer("SocialServ"),
        json!({"type": "module_start", "module_name": "SocialServ", "port": 8002,
               "url": "https://social.lab.example/"}),
    );
    assert_eq!(v["success"], true);
    let started = frames_until(&mut watcher, T, |m| {
        m["type"] == "module_started" && m["name"] == "SocialServ"
    });
    let started = started.last().cloned().unwrap_or_default();
    assert_eq!(
        (started["port"].clone(), started["url"].clone()),
        (json!(8002), json!("https://social.lab.example/"))
    );
    other.close();
    let stopped = frames_until(&mut watcher, T, |m| m["type"] == "module_stopped");
    let stopped = stopped.last().cloned().unwrap_or_default();
    assert_eq!(
        (stopped["name"].clone(), stopped["port"].clone()),
        (json!("SocialServ"), json!(8002))
    );
    original.pump(SHORT);
    original.assert_alive();
    assert!(
        original.seen.iter().all(original_may_receive),
        "{:?}",
        original.seen
    );
    let own = drain(&mut watcher, SHORT);
    assert!(own.is_empty(), "{own:?}");
}

#[test]
fn module_start_refuses_protocols_it_does_not_speak() {
    let server = hub(json!({}));
    let mut conn = raw(&server, "ListServ");
    let s = signer("ListServ");
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "module_start", "module_name": "ListServ", "port": 8001, "protocol": 3}),
    );
    assert_eq!(
        (v["success"].clone(), v["reason"].clone()),
        (json!(false), json!("unsupported_protocol"))
    );
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "module_start", "module_name": "ListServ", "port": 8001, "protocol": "2"}),
    );
    assert_eq!(v["reason"], "message_format_error", "{v}");
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "module_start", "module_name": "ListServ", "port": 8001, "protocol": 1}),
    );
    assert_eq!(v["success"], true);
    assert!(v.get("protocol").is_none(), "{v}");
}

fn permissions_config() -> Value {
    json!({"module_permissions": {
        "ListServ": {
            "requests": ["module_start", "token_validation", "get_user", "message_module"],
            "user_data": false,
            "message_modules": ["SocialServ"],
        },
        "chatsystem": {"user_data": false},
    }})
}

#[test]
fn module_permissions_refuse_requests_and_messages_and_strip_user_data() {
    let server = hub(permissions_config());
    let mut limited = start_v2(&server, "ListServ", 8001);
    let mut full = start_v2(&server, "SocialServ", 8002);
    let mut quiet = OriginalClient::start(&server, "chatsystem", 8003);
    let s = signer("ListServ");
    let v = signed(&mut limited, &s, json!({"type": "get_user_list"}));
    assert_eq!(
        (v["type"].clone(), v["success"].clone(), v["reason"].clone()),
        (
            json!("get_user_list_response"),
            json!(false),
            json!("permission_denied")
        )
    );
    let v = signed(
        &mut limited,
        &s,
        json!({"type": "get_user", "username": "admin"}),
    );
    assert_eq!(v["success"], true, "{v}");
    let v = signed(
        &mut limited,
        &s,
        json!({"type": "message_module", "to": "chatsystem"}),
    );
    assert_eq!(
        (v["type"].clone(), v["reason"].clone()),
        (json!("message_module_response"), json!("permission_denied"))
    );
    let id = sse_platform::module_client::uuid4();
    let msg = json!({"type": "message_module", "to": "SocialServ", "text": "hi"});
    limited.send(s.envelope(object(msg), &id), T).expect("send");
    let got = frames_until(&mut full, T, |m| m["type"] == "message_module");
    assert_eq!(
        got.last().map(|m| m["origin"].clone()),
        Some(json!("ListServ"))
    );

    let token = server.client().register("oli", "oli-password-1");
    let stripped = frames_until(&mut limited, T, |m| m["type"] == "user_login").pop();
    let stripped = stripped.unwrap_or_default();
    assert_eq!(stripped["username"], "oli");
    assert!(
        stripped.get("access_token").is_none() && stripped.get("email").is_none(),
        "{stripped}"
    );
    let whole = frames_until(&mut full, T, |m| m["type"] == "user_login").pop();
    assert_eq!(whole.map(|m| m["access_token"].clone()), Some(json!(token)));
    server.client().token(&token).post("/logout").ok_json();
    assert_ended(&mut limited, &[&token], "logout");
    // An original client without user data gets no user_login (it would
    // read the token) and no user_logout (its only field is the token).
    quiet.pump(SHORT);
    quiet.assert_alive();
    let kinds = quiet.types();
    assert!(
        !kinds
            .iter()
            .any(|k| k == "user_login" || k == "user_logout"),
        "{kinds:?}"
    );
}
