//! The server log: one greppable line per request, and no secrets in it
//! (the original printed access tokens to standard output).

mod common;

use common::{form, Server, TestDb};
use serde_json::json;
use std::time::Duration;

const FIRST_PASSWORD: &str = "Pw-Register-9f3kQ";
const QUERY_PASSWORD: &str = "Pw-Query-2m8vX";
const NEW_PASSWORD: &str = "Pw-Changed-7x2qZ";

#[test]
fn log_has_a_line_per_request_and_no_secrets() {
    let db = TestDb::new();
    let server = Server::start(&db, json!({"login_max_failures": 100}), &[]);
    let c = server.client();
    let config = std::fs::read_to_string(server.dir().join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let cookie_secret = config["cookie_secret"].as_str().unwrap().to_owned();

    let r = c.post_form(
        "/register",
        &[
            ("email", "logged@example.org"),
            ("nickname", "logged"),
            ("password", FIRST_PASSWORD),
        ],
    );
    let first_token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    let first_cookie = r.cookie_value().unwrap();
    // Credentials in the query string, as the original pages send them.
    let query = form(&[("nickname", "logged"), ("password", FIRST_PASSWORD)]);
    let r = c.post(&format!("/login?{query}"));
    let cookie = r.cookie_value().unwrap();
    let token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    // A failed login with another password in the query.
    let bad_query = form(&[("nickname", "logged"), ("password", QUERY_PASSWORD)]);
    assert_eq!(c.post(&format!("/login?{bad_query}")).status, 401);
    let r = c.cookie(&cookie).post_form(
        "/password/change",
        &[
            ("old_password", FIRST_PASSWORD),
            ("new_password", NEW_PASSWORD),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let last_token = c.login("logged", NEW_PASSWORD);
    assert_eq!(
        c.token(&last_token).get("/me?secret=query-value").status,
        200
    );
    assert_eq!(c.bearer(&last_token).post("/logout").status, 200);

    let expected = [
        "POST /register 200",
        "POST /login 200",
        "POST /login 401",
        "POST /password/change 200",
        "GET /me 200",
        "POST /logout 200",
    ];
    let log = server.wait_for_log(Duration::from_secs(5), |log| {
        expected.iter().all(|e| log.contains(e))
    });
    let request_lines = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(request_lines("POST /register 200"), 1, "{log}");
    assert_eq!(request_lines("POST /login 200"), 2, "{log}");
    assert_eq!(request_lines("POST /login 401"), 1, "{log}");
    assert_eq!(request_lines("POST /password/change 200"), 1, "{log}");
    assert_eq!(request_lines("GET /me 200"), 1, "{log}");
    assert_eq!(request_lines("POST /logout 200"), 1, "{log}");
    for line in log.lines().filter(|l| l.contains("POST /login ")) {
        assert!(line.contains("127.0.0.1"), "client address: {line}");
    }

    let secrets = [
        FIRST_PASSWORD,
        QUERY_PASSWORD,
        NEW_PASSWORD,
        &first_token,
        &token,
        &last_token,
        &first_cookie,
        &cookie,
        // The signed part of a cookie alone would do, too.
        cookie.rsplit('|').next().unwrap(),
        &query,
        &bad_query,
        "password=",
        "query-value",
        &db.password,
        &cookie_secret,
    ];
    for secret in secrets {
        assert!(!log.contains(secret), "log contains {secret:?}:\n{log}");
    }
    // Nor the token base64-encoded as in the cookie.
    let encoded = cookie.split('|').nth(4).unwrap();
    assert!(!log.contains(encoded.split(':').nth(1).unwrap()));
}
