//! The administrators' actions on another account over HTTP
//! (`/users/{id}/...`, docs/protocol.md §1): ending its sessions, deleting
//! it, a reset link (mailed, or answered with mail off), `last_login`;
//! each refused to non-admins (403) and to other sites.

use crate::common;

use common::hub::{hub, T};
use common::original::{frames_until, sha256_hex, start_v2};
use common::smtp::SmtpSink;
use common::{wait_until, Client, Server, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "user password 1";

fn id_of(admin: &Client, name: &str) -> i64 {
    let list = admin.get("/users").ok_json()["user_list"].clone();
    let list = list.as_array().expect("user_list").clone();
    let user = list.iter().find(|u| u["name"] == name).expect("listed");
    user["id"].as_i64().unwrap()
}

fn delete(c: &Client, path: &str) -> common::Resp {
    c.request("DELETE", path, None, vec![])
}

/// Waits until the audit trail holds `(actor, action, target, outcome)`
/// (the `audit` thread writes in batches).
pub fn assert_audited(server: &Server, want: [&str; 4]) {
    let found = wait_until(Duration::from_secs(10), || {
        let rows = server
            .db()
            .client()
            .query(
                "SELECT actor, action, coalesce(target, ''), outcome FROM audit_events",
                &[],
            )
            .unwrap();
        rows.iter()
            .any(|r| (0..4).all(|i| r.get::<_, String>(i) == want[i]))
    });
    assert!(found, "no audit entry {want:?}");
}

#[test]
fn the_actions_refuse_non_admins_and_other_sites() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let c = server.client();
    let r = c.post_form(
        "/login",
        &[("nickname", ADMIN_NAME), ("password", ADMIN_PASSWORD)],
    );
    let cookie = r.cookie_value().unwrap();
    let admin = c.token(r.ok_json()["access_token"].as_str().unwrap());
    let bob = c.token(&c.register("bob", PASSWORD));
    let id = id_of(&admin, "bob");
    let (end, user, reset) = (
        format!("/users/{id}/sessions/end"),
        format!("/users/{id}"),
        format!("/users/{id}/password_reset"),
    );
    bob.post(&end).assert_error(403, "user_not_admin");
    delete(&bob, &user).assert_error(403, "user_not_admin");
    bob.post(&reset).assert_error(403, "user_not_admin");
    c.post(&end).assert_error(401, "no_token");
    delete(&c, &user).assert_error(401, "no_token");
    let evil = c.cookie(&cookie).header("Origin", "https://evil.example");
    evil.post(&end).assert_error(403, "cross_origin_request");
    delete(&evil, &user).assert_error(403, "cross_origin_request");
    evil.post(&reset).assert_error(403, "cross_origin_request");
    assert_eq!(bob.get("/me").status, 200, "nothing happened to bob");
    let bob_id = bob.get("/me").ok_json()["user"]["id"].as_i64().unwrap();
    let actor = format!("user:{bob_id}");
    assert_audited(&server, [&actor, "user_deleted", "", "user_not_admin"]);
}

#[test]
fn an_admin_ends_every_session_of_a_user_and_modules_hear_each() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    let tokens = [c.register("bob", PASSWORD), c.login("bob", PASSWORD)];
    let id = id_of(&admin, "bob");

    let v = admin.post(&format!("/users/{id}/sessions/end")).ok_json();
    assert_eq!(v["sessions_ended"], 2, "{v}");
    for token in &tokens {
        c.token(token).get("/me").assert_error(401, "no_token");
        let hash = sha256_hex(token);
        let got = frames_until(&mut v2, T, |f| f["token_sha256"] == hash.as_str());
        assert_eq!(got.last().unwrap()["reason"], "ended_by_admin");
    }
    frames_until(&mut v2, T, |f| f["type"] == "user_sessions_revoked");
    assert_eq!(admin.get("/me").status, 200, "the admin's own stays");
    admin
        .post("/users/99999/sessions/end")
        .assert_error(404, "user_not_found");
    admin
        .post("/users/bob/sessions/end")
        .assert_error(404, "user_not_found");
}

#[test]
fn an_admin_deletes_another_user_but_not_themselves() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    let bob = c.register("bob", PASSWORD);
    let id = id_of(&admin, "bob");

    assert_eq!(
        delete(&admin, &format!("/users/{id}")).ok_json()["success"],
        true
    );
    let hash = sha256_hex(&bob);
    let got = frames_until(&mut v2, T, |f| f["token_sha256"] == hash.as_str());
    assert_eq!(got.last().unwrap()["reason"], "account_deleted");
    frames_until(&mut v2, T, |f| {
        f["type"] == "user_delete" && f["userid"] == id
    });
    c.token(&bob).get("/me").assert_error(401, "no_token");
    let names: Vec<Value> = admin.get("/users").ok_json()["user_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, vec![json!(ADMIN_NAME)]);
    delete(&admin, &format!("/users/{id}")).assert_error(404, "user_not_found");
    let own = id_of(&admin, ADMIN_NAME);
    delete(&admin, &format!("/users/{own}")).assert_error(400, "cannot_delete_self");
    assert_eq!(admin.get("/me").status, 200);
    let (by, target) = (format!("user:{own}"), format!("user:{id}"));
    assert_audited(&server, [&by, "user_deleted", &target, "ok"]);
}

#[test]
fn with_mail_off_the_reset_link_is_answered_and_works_once() {
    let server = Server::start(
        json!({"public_url": "https://lab.example"}),
        &["--create_admin"],
    );
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    let old = c.register("bob", PASSWORD);
    let id = id_of(&admin, "bob");

    let v = admin.post(&format!("/users/{id}/password_reset")).ok_json();
    assert_eq!(v["mailed"], false, "{v}");
    let link = v["link"].as_str().unwrap();
    let phrase = link
        .strip_prefix("https://lab.example/forgot_password?phrase=")
        .unwrap_or_else(|| panic!("{link}"));
    assert!(v["expires_at"].as_i64().unwrap() > common::unix_now());
    let set = json!({"phrase": phrase, "new_password": "new password 2"});
    c.post_json("/forgot_password", &set).ok_json();
    c.post_json("/forgot_password", &set)
        .assert_error(400, "phrase_not_valid");
    c.token(&old).get("/me").assert_error(401, "no_token");
    c.login("bob", "new password 2");
    assert!(
        !server.settled_log().contains(phrase),
        "the phrase is not logged"
    );
}

#[test]
fn with_mail_on_the_reset_link_is_mailed_to_the_user() {
    let sink = SmtpSink::start();
    let config = json!({"smtp": sink.config(), "public_url": "https://lab.example"});
    let server = Server::start(config, &["--create_admin"]);
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    c.register("bob", PASSWORD);
    let id = id_of(&admin, "bob");

    let v = admin.post(&format!("/users/{id}/password_reset")).ok_json();
    assert_eq!(
        (v["mailed"].clone(), v.get("link")),
        (json!(true), None),
        "{v}"
    );
    let mail = sink.wait_for(1, T * 4).remove(0);
    assert!(mail.to_string().contains("bob@example.org"), "{mail}");
    assert!(mail["text"].as_str().unwrap().contains("phrase="), "{mail}");
}

#[test]
fn the_user_list_shows_when_each_user_last_logged_in() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let c = server.client();
    let before = common::unix_now();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    c.register("bob", PASSWORD);
    server
        .db()
        .client()
        .execute(
            "INSERT INTO users (email, name, role) VALUES ('old@example.org', 'old', 'guest')",
            &[],
        )
        .unwrap();
    let list = admin.get("/users").ok_json()["user_list"].clone();
    let last = |name: &str| {
        let u = list
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap();
        u["last_login"].clone()
    };
    for name in [ADMIN_NAME, "bob"] {
        let at = last(name).as_i64().unwrap_or_else(|| panic!("{list}"));
        assert!((before..=common::unix_now()).contains(&at), "{name}: {at}");
    }
    assert_eq!(last("old"), Value::Null, "never logged in");
}
