//! Modules written against the original platform, run unchanged: a client
//! that behaves exactly as the original's `on_message` must survive every
//! broadcast, hear only the original's message types, and, after a
//! reconnect without `module_start`, get what it missed and be listed.

use crate::common;

use common::hub::*;
use common::original::*;
use common::smtp::SmtpSink;
use common::wait_until;
use serde_json::{json, Value};
use sse_platform::module_client::Connection;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(300);

/// Lets the module read what the last action caused; it must still live.
fn step(name: &str, module: &mut OriginalClient) {
    module.pump(SHORT);
    assert!(
        module.crashed.is_none(),
        "after {name}: {:?}",
        module.crashed
    );
}

#[test]
fn an_original_client_survives_every_action_that_causes_a_broadcast() {
    let sink = SmtpSink::start();
    let server = hub(json!({"smtp": sink.config(), "public_url": "https://lab.example"}));
    let mut module = OriginalClient::start(&server, "ListServ", 8001);
    let web = server.client();
    let token = web.register("ann", "ann-password-1");
    step("register", &mut module);
    assert!(
        module.cache.contains_key(&token),
        "user_login fills the cache"
    );
    let second = web.login("ann", "ann-password-1");
    step("login", &mut module);
    let admin = web.login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let r = web
        .token(&admin)
        .post_form("/roles", &[("user_name", "ann"), ("role", "teacher")]);
    assert_eq!(r.status, 200, "{}", r.body);
    step("POST /roles", &mut module);
    web.token(&second).post("/logout").ok_json();
    step("logout", &mut module);
    assert!(
        !module.cache.contains_key(&second),
        "user_logout empties it"
    );
    let r = web.token(&token).post_form(
        "/password/change",
        &[
            ("old_password", "ann-password-1"),
            ("new_password", "ann-password-2"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    step("password change", &mut module);
    web.login("ann", "ann-password-2");
    reset_by_mail(&server, &sink, 0, "ann@example.org", "ann-password-3");
    step("password reset", &mut module);
    let last = web.login("ann", "ann-password-3");
    let other = start_v2(&server, "SocialServ", 8002);
    step("another module's start", &mut module);
    let v = signed(
        &mut raw(&server, "chatsystem"),
        &signer("chatsystem"),
        json!({"type": "user_logout", "access_token": last}),
    );
    assert_eq!(v["success"], true);
    step("a module's user_logout", &mut module);
    other.close();
    step("another module's end", &mut module);
    let doomed = web.login("ann", "ann-password-3");
    let r = web
        .token(&doomed)
        .delete_form("/delete_account", &[("password", "ann-password-3")]);
    assert_eq!(r.status, 204, "{}", r.body);
    step("account deletion", &mut module);
    let reply = module.request(json!({"type": "get_running_modules"}));
    assert_eq!(reply["running_modules"]["ListServ"]["port"], 8001);
    let strange: Vec<&Value> = module
        .seen
        .iter()
        .filter(|m| !original_may_receive(m))
        .collect();
    assert!(
        strange.is_empty(),
        "protocol-2 types reached it: {strange:?}"
    );
    assert!(
        module.seen.iter().all(|m| m.get("resolve_id").is_some()),
        "every message carries a resolve_id: {:?}",
        module.seen
    );
    let types = module.types();
    assert!(types.contains(&"user_delete".to_owned()), "{types:?}");
}

#[test]
fn unasked_messages_carry_a_fresh_resolve_id_each() {
    let server = hub(json!({}));
    let mut a = OriginalClient::start(&server, "ListServ", 8001);
    let mut b = OriginalClient::start(&server, "SocialServ", 8002);
    let web = server.client();
    web.register("bea", "bea-password-1");
    web.register("bob", "bob-password-1");
    a.pump(SHORT);
    b.pump(SHORT);
    let ids: Vec<&str> = a
        .seen
        .iter()
        .chain(&b.seen)
        .filter(|m| m["type"] == "user_login")
        .filter_map(|m| m["resolve_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 4, "{:?} {:?}", a.seen, b.seen);
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), 4, "{ids:?}");
}

#[test]
fn a_reconnected_original_client_gets_what_it_missed_before_its_first_reply() {
    let mut server = hub(json!({}));
    let first = OriginalClient::start(&server, "ListServ", 8001);
    drop(first);
    server.restart();
    // The 2021-01 client reconnects and signs nothing until it needs to.
    let mut module = OriginalClient::reconnect(&server, "ListServ");
    let web = server.client();
    let cid = web.register("cid", "cid-password-1");
    let dot = web.register("dot", "dot-password-1");
    web.token(&cid).post("/logout").ok_json();
    let eve = web.register("eve", "eve-password-1");
    module.pump(SHORT);
    assert!(
        module.seen.is_empty(),
        "nothing before a valid envelope: {:?}",
        module.seen
    );
    let reply = module.request(json!({"type": "get_running_modules"}));
    module.assert_alive();
    let got: Vec<(String, String)> = module
        .seen
        .iter()
        .map(|m| {
            let kind = m["type"].as_str().unwrap_or_default().to_owned();
            let token = m["access_token"].as_str().unwrap_or_default().to_owned();
            (kind, token)
        })
        .collect();
    let login = |t: &str| ("user_login".to_owned(), t.to_owned());
    let expected = vec![
        login(&cid),
        login(&dot),
        ("user_logout".to_owned(), cid.clone()),
        login(&eve),
        ("get_running_modules_response".to_owned(), String::new()),
    ];
    assert_eq!(got, expected, "in order, then the reply");
    assert_eq!(module.cache.len(), 2, "dot and eve");
    // Its last module_start is back: listed as running everywhere.
    assert_eq!(reply["running_modules"]["ListServ"]["port"], 8001);
    assert_eq!(running(&server, &eve)["ListServ"]["port"], 8001);
    drop(module);
    assert!(
        wait_until(T, || running(&server, &eve).get("ListServ").is_none()),
        "and gone again when it disconnects: {}",
        server.log()
    );
}

#[test]
fn a_connection_naming_a_module_receives_nothing_until_it_signs_as_it() {
    let server = hub(json!({}));
    let mut named = OriginalClient::reconnect(&server, "ListServ");
    let mut unknown = raw(&server, "nosuchmodule");
    let web = server.client();
    web.register("fay", "fay-password-1");
    named.pump(SHORT);
    assert!(named.seen.is_empty(), "{:?}", named.seen);
    assert!(drain(&mut unknown, SHORT).is_empty());
    // Signing as another module than it named drops what was held.
    let v = signed(
        &mut named.conn,
        &signer("SocialServ"),
        json!({"type": "get_running_modules"}),
    );
    assert_eq!(v["type"], "get_running_modules_response");
    assert!(drain(&mut named.conn, SHORT).is_empty());
    // From then on it hears broadcasts as usual.
    web.register("gus", "gus-password-1");
    let got = drain(&mut named.conn, SHORT);
    assert!(
        got.iter()
            .any(|m| m["type"] == "user_login" && m["username"] == "gus"),
        "{got:?}"
    );
}

#[test]
fn a_named_connection_may_wait_to_sign_as_long_as_broadcasts_are_held() {
    let server = hub(json!({"hub_auth_timeout_seconds": 1, "hub_hold_seconds": 6}));
    let mut named = OriginalClient::reconnect(&server, "ListServ");
    let mut late = raw(&server, "SocialServ");
    let mut anonymous = Connection::open(&target(&server), None).expect("plain upgrade");
    let closed = |c: &mut Connection| {
        wait_until(Duration::from_secs(10), || {
            c.recv(Duration::from_millis(50)).is_err()
        })
    };
    assert!(
        closed(&mut anonymous),
        "an unnamed connection has the usual deadline"
    );
    // Past hub_auth_timeout_seconds, the named one is open and holding.
    let ivy = server.client().register("ivy", "ivy-password-1");
    named.request(json!({"type": "get_user_list"}));
    assert_eq!(named.types()[0], "user_login");
    assert!(named.cache.contains_key(&ivy));
    assert!(
        closed(&mut late),
        "one that never signs is closed after hub_hold_seconds"
    );
}

#[test]
fn held_broadcasts_are_bounded_in_number_and_age() {
    let server = hub(json!({"hub_hold_messages": 3, "hub_hold_seconds": 3}));
    let mut early = OriginalClient::reconnect(&server, "ListServ");
    let mut late = OriginalClient::reconnect(&server, "SocialServ");
    let web = server.client();
    web.register("ada", "ada-password-1");
    // Age is the passing of time itself; there is nothing to poll for.
    std::thread::sleep(Duration::from_millis(3100));
    web.register("ben", "ben-password-1");
    early.request(json!({"type": "get_user_list"}));
    let names = |c: &OriginalClient| -> Vec<String> {
        c.seen
            .iter()
            .filter(|m| m["type"] == "user_login")
            .map(|m| m["username"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&early), vec!["ben"], "ada's login was held too long");
    for n in ["cat", "dan", "eva"] {
        web.register(n, &format!("{n}-password-1"));
    }
    late.request(json!({"type": "get_user_list"}));
    assert_eq!(names(&late), vec!["cat", "dan", "eva"], "the newest three");
    late.assert_alive();
}
