//! The server log: one greppable line per request, and no secrets in it
//! (the original printed access tokens to standard output).

use crate::common;

use common::{form, Server};
use serde_json::json;
use std::time::Duration;

const FIRST_PASSWORD: &str = "Pw-Register-9f3kQ";
const QUERY_PASSWORD: &str = "Pw-Query-2m8vX";
const NEW_PASSWORD: &str = "Pw-Changed-7x2qZ";

#[test]
fn log_has_a_line_per_request_and_no_secrets() {
    let server = Server::start(json!({"login_max_failures": 100}), &[]);
    let db = server.db();
    let c = server.client();
    let config = std::fs::read_to_string(server.dir().join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let cookie_secret = config["cookie_secret"].as_str().unwrap().to_owned();

    let r = c.register_form("logged@example.org", "logged", FIRST_PASSWORD);
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

/// Item 10 of issue 8: an unknown path was logged as sent, so
/// `POST /login&password=secret` (no `?` to cut at) put the secret into a
/// 404 line. Only what the route table knows may reach the log.
#[test]
fn no_spelling_of_a_path_or_method_puts_what_follows_into_the_log() {
    const SECRET: &str = "PwPathSecret7Qk2";
    let server = Server::start(json!({}), &[]);
    let long = format!("/{}{SECRET}", "x".repeat(6000));
    let targets = [
        format!("/login&password={SECRET}"),
        format!("/login;password={SECRET}"),
        format!("/login/{SECRET}"),
        format!("/login%2f{SECRET}"),
        format!("/%70assword={SECRET}"),
        format!("/password/{SECRET}"),
        format!("/css/{SECRET}.css"),
        format!("/css/../{SECRET}"),
        format!("//{SECRET}"),
        format!("/caf\u{e9}/{SECRET}"),
        format!("http://localhost/login&password={SECRET}"),
        long,
    ];
    let mut requests: Vec<Vec<u8>> = Vec::new();
    for target in &targets {
        for method in ["GET", "POST", "DELETE"] {
            requests.push(
                format!(
                    "{method} {target} HTTP/1.1\r\nHost: localhost\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .into_bytes(),
            );
        }
    }
    // A made-up method is a word the client chose, too.
    requests.push(
        format!("{SECRET} /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    );
    for request in &requests {
        let mut conn = server.raw();
        if conn.send(request).is_ok() {
            let _ = conn.read_response(Duration::from_secs(5));
        }
    }
    let c = server.client();
    assert_eq!(c.get("/login").status, 200);
    assert_eq!(c.get("/css/style.css").status, 200);
    let log = server.settled_log();
    assert!(!log.contains(SECRET), "{log}");
    for expected in [
        "GET /login 200",
        "GET /css/style.css 200",
        "POST (unrouted) 404",
        "GET /login/… 404",
        "GET /css/(unknown) 404",
        "OTHER /login 405",
    ] {
        assert!(log.contains(expected), "no {expected:?} in:\n{log}");
    }
}
