//! The audit trail's reach (issue 12 item 3): each account action of the
//! web API appears with its actor, target and outcome; nothing secret is in
//! any entry; `GET /audit` pages, filters and is for admins only.

use crate::common;

use common::oidc::{claims, jwks, JwksServer, Key, CLIENT_ID};
use common::smtp::SmtpSink;
use common::{wait_until, Client, Server, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "Pw-Reach-First-7hQa";
const NEW_PASSWORD: &str = "Pw-Reach-Second-3kLm";
const WRONG: &str = "Pw-Reach-Wrong-9zXc";
const T: Duration = Duration::from_secs(20);

fn admin(server: &Server) -> (Client, String) {
    let c = server.client();
    let token = c.login(ADMIN_NAME, ADMIN_PASSWORD);
    (c.token(&token), token)
}

fn id_of(admin: &Client, name: &str) -> i64 {
    let list = admin.get("/users").ok_json();
    let users = list["user_list"].as_array().expect("user_list").clone();
    let user = users.iter().find(|u| u["name"] == name).expect("listed");
    user["id"].as_i64().expect("id")
}

/// `(actor, action, target, outcome)` of `GET /audit`'s entries, oldest first.
type Seen = (String, String, Option<String>, String);

fn entries(admin: &Client, query: &str) -> Vec<Seen> {
    let page = admin.get(&format!("/audit{query}")).ok_json();
    let events = page["events"].as_array().expect("events").clone();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let mut out: Vec<Seen> = events
        .iter()
        .map(|e| {
            let word = |k: &str| text(&e[k]).unwrap_or_default();
            (
                word("actor"),
                word("action"),
                text(&e["target"]),
                word("outcome"),
            )
        })
        .collect();
    out.reverse();
    out
}

/// Waits until the trail holds every one of `wanted` (the writer batches
/// entries off the request path); panics with what it holds otherwise.
fn wait_for(admin: &Client, wanted: &[(&str, &str, Option<&str>, &str)]) {
    let mut seen = Vec::new();
    let all_there = wait_until(T, || {
        seen = entries(admin, "?limit=1000");
        wanted.iter().all(|(actor, action, target, outcome)| {
            seen.iter().any(|(a, b, t, o)| {
                a == actor && b == action && t.as_deref() == *target && o == outcome
            })
        })
    });
    assert!(all_there, "wanted {wanted:?}; the trail holds {seen:?}");
}

/// Every row of the table as text, for asserting what is never in it.
fn all_rows_text(server: &Server) -> String {
    let rows = server
        .db()
        .client()
        .query("SELECT row_to_json(a)::text FROM audit_events a", &[])
        .expect("audit_events");
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_absent(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{secret:?} is in the trail:\n{text}"
        );
    }
}

#[test]
fn account_actions_are_recorded_with_actor_target_and_outcome() {
    let server = Server::start(json!({"login_max_failures": 1}), &["--create_admin"]);
    let (admin, admin_token) = admin(&server);
    let c = server.client();
    let token = c.register("carol", PASSWORD);
    let id = id_of(&admin, "carol");
    let (user, admin_id) = (format!("user:{id}"), id_of(&admin, ADMIN_NAME));
    let admin_actor = format!("user:{admin_id}");

    let change = |old: &str, new: &str| {
        c.token(&token).post_form(
            "/password/change",
            &[("old_password", old), ("new_password", new)],
        )
    };
    change(WRONG, NEW_PASSWORD).assert_error(400, "old_password_not_valid");
    assert_eq!(change(PASSWORD, NEW_PASSWORD).status, 200);
    let role = [("user_name", "carol"), ("role", "teacher")];
    assert_eq!(admin.post_form("/roles", &role).status, 200);
    // Locked by one failure, then unlocked by the admin.
    let wrong = [("nickname", "carol"), ("password", WRONG)];
    assert_eq!(c.post_form("/login", &wrong).status, 401);
    let id_text = id.to_string();
    let r = admin.post_form("/users/unlock", &[("user_id", &id_text)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = c.login("carol", NEW_PASSWORD);
    let r = c
        .token(&fresh)
        .delete_form("/delete_account", &[("password", NEW_PASSWORD)]);
    assert_eq!(r.status, 204, "{}", r.body);

    let u = Some(user.as_str());
    wait_for(
        &admin,
        &[
            (&user, "register", u, "ok"),
            (&user, "password_changed", u, "old_password_not_valid"),
            (&user, "password_changed", u, "ok"),
            (&admin_actor, "role_changed", u, "ok"),
            ("anonymous", "login", u, "password_validation_failed"),
            (&admin_actor, "user_unlocked", u, "ok"),
            (&user, "account_deleted", u, "ok"),
        ],
    );
    let text = all_rows_text(&server);
    assert_absent(
        &text,
        &[
            PASSWORD,
            NEW_PASSWORD,
            WRONG,
            ADMIN_PASSWORD,
            &token,
            &fresh,
            &admin_token,
        ],
    );
}

#[test]
fn a_password_reset_is_recorded_and_its_phrase_is_not() {
    let sink = SmtpSink::start();
    let config = json!({"smtp": sink.config(), "public_url": "https://lab.example"});
    let server = Server::start(config, &["--create_admin"]);
    let (admin, _) = admin(&server);
    let c = server.client();
    c.register("dave", PASSWORD);
    let user = format!("user:{}", id_of(&admin, "dave"));
    let r = c.post_json("/password/forgot", &json!({"email": "dave@example.org"}));
    assert_eq!(r.status, 204);
    let mails = sink.wait_for(1, T);
    let text = mails[0]["text"].as_str().expect("text part");
    let phrase = text
        .split_whitespace()
        .find_map(|w| w.split_once("phrase=").map(|(_, p)| p.to_owned()))
        .expect("a link with the phrase");
    let body = json!({"phrase": phrase, "new_password": NEW_PASSWORD});
    assert_eq!(c.post_json("/forgot_password", &body).status, 200);
    wait_for(&admin, &[(&user, "password_reset", Some(&user), "ok")]);
    assert_absent(&all_rows_text(&server), &[&phrase, NEW_PASSWORD, PASSWORD]);
}

#[test]
fn a_google_sign_in_is_recorded_and_a_forged_token_refused() {
    let key = Key::ec("ec-audit");
    let provider = JwksServer::start(&jwks(&[&key]));
    let oidc = json!({"client_id": CLIENT_ID, "jwks_url": provider.url()});
    let server = Server::start(json!({ "oidc": oidc }), &["--create_admin"]);
    let (admin, _) = admin(&server);
    let c = server.client();
    let token = key.sign(&claims("erin@example.org", "Erin"));
    let r = c.post_json("/google_signin", &json!({"id_token": token}));
    assert_eq!(r.status, 200, "{}", r.body);
    let forged = Key::ec("ec-audit").sign(&claims("erin@example.org", "Erin"));
    let r = c.post_json("/google_signin", &json!({"id_token": forged}));
    r.assert_error(401, "google_authentication_failed");
    let id: i32 = server
        .db()
        .client()
        .query_one("SELECT id FROM users WHERE email = 'erin@example.org'", &[])
        .expect("the Google account")
        .get(0);
    let user = format!("user:{id}");
    wait_for(
        &admin,
        &[
            (&user, "google_signin", Some(&user), "ok"),
            (
                "anonymous",
                "google_signin",
                None,
                "google_authentication_failed",
            ),
        ],
    );
    assert_absent(&all_rows_text(&server), &[&token, &forged]);
}

#[test]
fn get_audit_pages_by_id_filters_and_is_for_admins_only() {
    let server = Server::start(json!({"audit_page_max": 50}), &["--create_admin"]);
    let (admin, _) = admin(&server);
    let c = server.client();
    let token = c.register("frank", PASSWORD);
    for _ in 0..3 {
        c.login("frank", PASSWORD);
    }
    let frank = format!("user:{}", id_of(&admin, "frank"));
    let logins = format!("?actor={frank}&action=login");
    assert!(wait_until(T, || entries(&admin, &logins).len() == 3));

    let page = |query: &str| admin.get(&format!("/audit{query}")).ok_json()["events"].clone();
    let first = page(&format!("{logins}&limit=2"));
    let ids: Vec<i64> = (0..2)
        .map(|i| first[i]["id"].as_i64().expect("id"))
        .collect();
    assert!(ids[0] > ids[1], "newest first: {ids:?}");
    let older = page(&format!("{logins}&limit=2&before={}", ids[1]));
    assert_eq!(older.as_array().map(Vec::len), Some(1));
    assert!(older[0]["id"].as_i64() < Some(ids[1]));
    assert_eq!(older[0]["address"], "127.0.0.1");
    assert!(entries(&admin, "?action=register")
        .iter()
        .all(|e| e.1 == "register"));

    for bad in ["0", "51", "-1", "x", "1.5", "99999999999999999999"] {
        let r = admin.get(&format!("/audit?limit={bad}"));
        r.assert_error(400, "invalid_limit");
    }
    admin
        .get("/audit?before=abc")
        .assert_error(400, "invalid_before");
    c.token(&token)
        .get("/audit")
        .assert_error(403, "user_not_admin");
    c.get("/audit").assert_error(401, "no_token");
}
