//! The server log: one greppable line per request, and no secrets in it
//! (the original printed access tokens to standard output).

use crate::common;

use common::{form, Server};
use serde_json::{json, Value};
use std::time::Duration;

const FIRST_PASSWORD: &str = "Pw-Register-9f3kQ";
const QUERY_PASSWORD: &str = "Pw-Query-2m8vX";
const NEW_PASSWORD: &str = "Pw-Changed-7x2qZ";

#[test]
fn log_has_a_line_per_request_and_no_secrets() {
    secrets_stay_out(json!({}));
}

#[test]
fn json_log_has_a_line_per_request_and_no_secrets() {
    let log = secrets_stay_out(json!({"log_format": "json"}));
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["time", "level", "target", "message"] {
            assert!(v[key].is_string(), "{key} in {line}");
        }
    }
}

/// Signs up, in and out with secrets in every place a client can put them,
/// then checks the access lines and that no secret is in the log; returns
/// the log.
fn secrets_stay_out(format: Value) -> String {
    let config = common::merged(json!({"login_max_failures": 100}), format);
    let server = Server::start(config, &[]);
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
    log
}

/// The `X-Request-Id` of an answer names its lines; a module connection's
/// lines share one `conn_id`; both formats carry them, JSON as fields next
/// to the access line's method, route, status, milliseconds and client.
#[test]
fn request_and_connection_ids_are_on_their_lines() {
    let server = common::hub::hub(json!({"log_format": "json"}));
    let c = server.client();
    let r = c.get("/login");
    let id = r.header("x-request-id").expect("X-Request-Id").to_owned();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let other = c.get("/nowhere");
    assert_eq!(other.status, 404);
    assert_ne!(other.header("x-request-id"), Some(id.as_str()));
    let mut module = common::hub::raw(&server, "ListServ");
    common::hub::start_module(&mut module, "ListServ", 8001);
    drop(module);

    let log = server.wait_for_log(Duration::from_secs(5), |log| log.contains("disconnected"));
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|v| v["request_id"] == id.as_str())
        .collect();
    assert_eq!(access.len(), 1, "{log}");
    let line = access[0];
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["route"], "/login", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["ms"].is_number(), "{line}");
    assert_eq!(line["client"], "127.0.0.1", "{line}");
    let hub_lines: Vec<&Value> = lines
        .iter()
        .filter(|v| v["target"].as_str().is_some_and(|t| t.starts_with("hub")))
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("127.0.0.1:"))
        })
        .collect();
    assert!(
        hub_lines.len() >= 3,
        "connected, authenticated, disconnected: {log}"
    );
    let conn_id = &hub_lines[0]["conn_id"];
    assert!(conn_id.as_str().is_some_and(|c| c.len() == 16), "{log}");
    assert!(hub_lines.iter().all(|v| &v["conn_id"] == conn_id), "{log}");
}

#[test]
fn text_lines_carry_the_ids_before_the_message() {
    let server = Server::start(json!({}), &[]);
    let r = server.client().get("/login");
    let id = r.header("x-request-id").expect("X-Request-Id").to_owned();
    let log = server.wait_for_log(Duration::from_secs(5), |log| log.contains(&id));
    let line = log.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        line.contains(&format!(": request_id={id} GET /login 200 ")),
        "{line}"
    );
    assert!(line.ends_with(" 127.0.0.1"), "{line}");
    // The listener's own answers, which never reach a worker, have one too.
    let mut conn = server.raw();
    conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")
        .expect("send");
    let r = conn.read_response(Duration::from_secs(5)).expect("answer");
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-request-id").map(str::len), Some(16));
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
