//! Accounts over real HTTPS: register, login, logout, password change,
//! account deletion and /me (docs/protocol.md §1).

use crate::common;

use common::Server;
use serde_json::json;

const PASSWORD: &str = "correct horse 1";

#[test]
fn register_answers_token_sets_cookie_and_makes_a_guest() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let r = c.register_form("bob@example.org", "bob", PASSWORD);
    let v = r.ok_json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["success"], true);
    let token = v["access_token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 44, "32 bytes, standard base64");
    assert_eq!(v.as_object().map(|o| o.len()), Some(3), "{v}");

    let set_cookie = r.set_cookie().expect("Set-Cookie access_token");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = r.cookie_value().expect("cookie value");
    assert!(cookie.starts_with("2|1:0|"), "{cookie}");

    let role = json!({"type": "permission_response", "role": "guest"});
    assert_eq!(c.token(&token).get("/roles").ok_json(), role);
    assert_eq!(c.cookie(&cookie).get("/roles").ok_json(), role);
}

#[test]
fn register_with_taken_email_is_409_email_already_exists() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    c.register("bob", PASSWORD);
    for email in ["bob@example.org", "BOB@Example.org"] {
        let r = c.register_form(email, "other", PASSWORD);
        r.assert_error(409, "email_already_exists");
        assert_eq!(r.json()["success"], false);
    }
}

#[test]
fn register_with_taken_nickname_is_409_username_already_exists() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    c.register("bob", PASSWORD);
    let r = c.register_form("other@example.org", "bob", PASSWORD);
    r.assert_error(409, "username_already_exists");
}

#[test]
fn register_rejects_each_invalid_input_with_its_reason() {
    let server = Server::start(json!({}), &[]);
    let db = server.db();
    let c = server.client();
    let long = "x".repeat(1025);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("nickname", "bob"), ("password", PASSWORD)],
            "missing_query_parameter",
        ),
        (
            &[("email", "bob@example.org"), ("password", PASSWORD)],
            "missing_query_parameter",
        ),
        (
            &[("email", "bob@example.org"), ("nickname", "bob")],
            "missing_query_parameter",
        ),
        (
            &[
                ("email", "bob@example.org"),
                ("nickname", "bob"),
                ("password", ""),
            ],
            "missing_query_parameter",
        ),
        (
            &[
                ("email", "not-an-email"),
                ("nickname", "bob"),
                ("password", PASSWORD),
            ],
            "invalid_email",
        ),
        (
            &[
                ("email", "bob@example.org"),
                ("nickname", " bob"),
                ("password", PASSWORD),
            ],
            "invalid_nickname",
        ),
        (
            &[
                ("email", "bob@example.org"),
                ("nickname", "bob@home"),
                ("password", PASSWORD),
            ],
            "invalid_nickname",
        ),
        (
            &[
                ("email", "bob@example.org"),
                ("nickname", "bob"),
                ("password", "1234567"),
            ],
            "password_too_short",
        ),
        (
            &[
                ("email", "bob@example.org"),
                ("nickname", "bob"),
                ("password", &long),
            ],
            "password_too_long",
        ),
    ];
    for (params, reason) in cases {
        let r = c.post_form("/register", params);
        r.assert_error(400, reason);
    }
    let n: i64 = db
        .client()
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "no account was made");
}

#[test]
fn login_by_nickname_and_by_email_ignoring_case() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    c.register("Bob", PASSWORD);
    for params in [
        [("nickname", "Bob"), ("password", PASSWORD)],
        [("email", "Bob@example.org"), ("password", PASSWORD)],
        [("email", "bob@EXAMPLE.ORG"), ("password", PASSWORD)],
    ] {
        let r = c.post_form("/login", &params);
        let v = r.ok_json();
        assert_eq!(v["success"], true, "{params:?}");
        let token = v["access_token"].as_str().unwrap();
        assert!(r.set_cookie().is_some(), "login sets the cookie");
        assert_eq!(c.token(token).get("/me").ok_json()["user"]["name"], "Bob");
    }
    // Nicknames are exact.
    let r = c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
    r.assert_error(409, "user_not_found");
}

#[test]
fn parameters_come_from_query_string_form_body_or_json_body() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let register = format!(
        "/register?{}",
        common::form(&[
            ("email", "q@example.org"),
            ("nickname", "q"),
            ("password", PASSWORD)
        ])
    );
    assert_eq!(c.post(&register).ok_json()["success"], true);
    let r = c.post_json(
        "/register",
        &json!({"email": "j@example.org", "nickname": "j", "password": PASSWORD}),
    );
    assert_eq!(r.ok_json()["success"], true);

    // The original pages send credentials in the query string of a POST.
    let login = format!(
        "/login?{}",
        common::form(&[("nickname", "j"), ("password", PASSWORD)])
    );
    assert_eq!(c.post(&login).ok_json()["success"], true);
    let r = c.post_form("/login", &[("nickname", "q"), ("password", PASSWORD)]);
    assert_eq!(r.ok_json()["success"], true);
    let r = c.post_json(
        "/login",
        &json!({"email": "q@example.org", "password": PASSWORD}),
    );
    assert_eq!(r.ok_json()["success"], true);
    // Mixed: nickname in the query, password in the body.
    let r = c.post_form("/login?nickname=j", &[("password", PASSWORD)]);
    assert_eq!(r.ok_json()["success"], true);

    let r = c.request(
        "POST",
        "/login",
        Some("application/json"),
        b"{not json".to_vec(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn empty_email_matches_no_account() {
    let server = Server::start(json!({}), &[]);
    let db = server.db();
    let c = server.client();
    c.register("bob", PASSWORD);
    // An account with an empty email, as a hand-edited database may hold.
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    db.client()
        .execute(
            "INSERT INTO users (email, name, hashed_password, role) VALUES ('', 'blank', $1, 'admin')",
            &[&hash],
        )
        .unwrap();
    let r = c.post_form("/login", &[("email", ""), ("password", PASSWORD)]);
    r.assert_error(400, "missing_query_parameter");
    let r = c.post_form("/login", &[("email", "  "), ("password", PASSWORD)]);
    r.assert_error(400, "missing_query_parameter");
    // An empty email is no email: the nickname decides.
    let r = c.post_form(
        "/login",
        &[("email", ""), ("nickname", "bob"), ("password", PASSWORD)],
    );
    let token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(c.token(&token).get("/me").ok_json()["user"]["name"], "bob");
}

#[test]
fn wrong_password_is_401_password_validation_failed() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    c.register("bob", PASSWORD);
    let r = c.post_form(
        "/login",
        &[("nickname", "bob"), ("password", "wrong password")],
    );
    r.assert_error(401, "password_validation_failed");
    let v = r.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["redirect_suggestions"], json!(["/login"]));
    assert!(r.set_cookie().is_none());
}

#[test]
fn unknown_user_is_409_user_not_found() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let r = c.post_form("/login", &[("nickname", "nobody"), ("password", PASSWORD)]);
    r.assert_error(409, "user_not_found");
    let r = c.post_form(
        "/login",
        &[("email", "nobody@example.org"), ("password", PASSWORD)],
    );
    r.assert_error(409, "user_not_found");
    let r = c.post_form("/login", &[("nickname", "nobody")]);
    r.assert_error(400, "missing_query_parameter");
}

#[test]
fn repeated_failures_are_429_too_many_attempts_with_retry_after() {
    let server = Server::start(json!({"login_max_failures": 3}), &[]);
    let c = server.client();
    c.register("bob", PASSWORD);
    c.register("carol", PASSWORD);
    for _ in 0..3 {
        let r = c.post_form(
            "/login",
            &[("nickname", "bob"), ("password", "wrong password")],
        );
        r.assert_error(401, "password_validation_failed");
    }
    // Now even the right password is refused, for a while.
    let r = c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
    r.assert_error(429, "too_many_attempts");
    let retry = r.retry_after();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    // The account is counted, not the other accounts.
    c.login("carol", PASSWORD);
}

#[test]
fn logout_ends_the_session_and_clears_the_cookie() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let r = c.token(&token).post("/logout");
    assert_eq!(
        r.ok_json(),
        json!({"status": 200, "success": true, "redirect_suggestions": ["/login"]})
    );
    let cleared = r.set_cookie().expect("Set-Cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(r.cookie_value().as_deref(), Some(""));
    c.token(&token).get("/roles").assert_error(401, "no_token");

    // The same with the cookie a browser holds.
    let browser = c.with_jar();
    browser.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
    let cookie = browser.jar_cookie().expect("cookie kept");
    assert_eq!(browser.get("/roles").status, 200);
    assert_eq!(browser.post("/logout").status, 200);
    assert_eq!(browser.jar_cookie(), None, "cookie cleared");
    c.cookie(&cookie)
        .get("/roles")
        .assert_error(401, "no_token");

    // Logging out without a session still answers 200.
    assert_eq!(c.post("/logout").status, 200);
}

#[test]
fn password_change_revokes_the_session_and_takes_the_new_password() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let other_session = c.login("bob", PASSWORD);
    let me = c.token(&token);
    let new = "new password 2";

    c.post_form(
        "/password/change",
        &[("old_password", PASSWORD), ("new_password", new)],
    )
    .assert_error(401, "no_token");
    me.post_form("/password/change", &[("old_password", PASSWORD)])
        .assert_error(400, "missing_query_parameter");
    me.post_form(
        "/password/change",
        &[("old_password", "not my password"), ("new_password", new)],
    )
    .assert_error(400, "old_password_not_valid");
    me.post_form(
        "/password/change",
        &[("old_password", PASSWORD), ("new_password", "short")],
    )
    .assert_error(400, "password_too_short");

    let r = me.post_form(
        "/password/change",
        &[("old_password", PASSWORD), ("new_password", new)],
    );
    assert_eq!(
        r.ok_json(),
        json!({"status": 200, "success": true, "redirect": "/login", "sessions_ended": 2})
    );
    me.get("/roles").assert_error(401, "no_token");
    c.token(&other_session)
        .get("/roles")
        .assert_error(401, "no_token");
    c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)])
        .assert_error(401, "password_validation_failed");
    c.login("bob", new);
}

#[test]
fn delete_account_removes_user_and_sessions() {
    let server = Server::start(json!({}), &[]);
    let db = server.db();
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let keep = c.register("carol", PASSWORD);
    let me = c.token(&token);

    c.delete_form("/delete_account", &[("password", PASSWORD)])
        .assert_error(401, "no_token");
    me.delete_form("/delete_account", &[])
        .assert_error(400, "missing_query_parameter");
    me.delete_form("/delete_account", &[("password", "wrong password")])
        .assert_error(401, "password_validation_failed");
    assert_eq!(
        me.get("/roles").status,
        200,
        "a wrong password deletes nothing"
    );

    let r = me.delete_form("/delete_account", &[("password", PASSWORD)]);
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    assert_eq!(r.cookie_value().as_deref(), Some(""), "cookie cleared");
    me.get("/roles").assert_error(401, "no_token");
    c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)])
        .assert_error(409, "user_not_found");
    let rows = db
        .client()
        .query("SELECT name FROM users ORDER BY id", &[])
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["carol"]);
    assert_eq!(
        c.token(&keep).get("/roles").status,
        200,
        "others unaffected"
    );
}

#[test]
fn me_describes_the_signed_in_user() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let v = c.token(&token).get("/me").ok_json();
    assert_eq!(v["success"], true);
    let user = &v["user"];
    assert_eq!(user["name"], "bob");
    assert_eq!(user["email"], "bob@example.org");
    assert_eq!(user["role"], "guest");
    assert_eq!(user["google_user"], false);
    assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    assert!(user.get("hashed_password").is_none(), "{v}");
    c.get("/me").assert_error(401, "no_token");
}

#[test]
fn remember_me_keeps_the_cookie_until_the_session_cap() {
    let server = Server::start(json!({"session_max_seconds": 7200}), &[]);
    let c = server.client();
    c.register("bob", PASSWORD);
    let plain = c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
    let cookie = plain.set_cookie().unwrap();
    assert!(
        !cookie.contains("Max-Age"),
        "a browser-session cookie: {cookie}"
    );
    let remembered = c.post_form(
        "/login",
        &[
            ("nickname", "bob"),
            ("password", PASSWORD),
            ("remember", "true"),
        ],
    );
    let cookie = remembered.set_cookie().unwrap();
    assert!(cookie.contains("Max-Age=7200"), "{cookie}");
}

#[test]
fn switching_between_email_and_nickname_does_not_double_the_guesses() {
    let server = Server::start(json!({"login_max_failures": 4}), &[]);
    let c = server.client();
    c.register("dora", PASSWORD);
    for i in 0..4 {
        let by = if i % 2 == 0 {
            ("nickname", "dora")
        } else {
            ("email", "dora@example.org")
        };
        let r = c.post_form("/login", &[by, ("password", "wrong password")]);
        r.assert_error(401, "password_validation_failed");
    }
    // Two failures per name, four for the account: the account is locked.
    let r = c.post_form(
        "/login",
        &[("email", "dora@example.org"), ("password", PASSWORD)],
    );
    r.assert_error(429, "too_many_attempts");
}
