//! `--dev`: every request without a session acts as an administrator, so it
//! keeps the same-origin check of cookie sessions (a page on another site
//! must not use it), and it only starts on a loopback address.

use crate::common;

use common::{run_to_exit, Client, Server, Setup, TestDb};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "user password 1";
const TIMEOUT: Duration = Duration::from_secs(20);

/// What a browser sends on a request that another site's page started.
const CROSS_SITE: [(&str, &str); 4] = [
    ("Origin", "https://evil.example"),
    ("Sec-Fetch-Site", "cross-site"),
    ("Sec-Fetch-Site", "same-site"),
    ("Origin", "null"),
];

fn role_of(db: &TestDb, name: &str) -> Option<String> {
    db.client()
        .query_one("SELECT role FROM users WHERE name = $1", &[&name])
        .unwrap()
        .get(0)
}

fn user_count(db: &TestDb) -> i64 {
    db.client()
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0)
}

/// Every state change a page could make with the dev administrator.
fn state_changes(c: &Client) -> Vec<(&'static str, common::Resp)> {
    vec![
        (
            "POST /roles",
            c.post_form("/roles", &[("user_name", "bob"), ("role", "admin")]),
        ),
        ("POST /logout", c.post("/logout")),
        (
            "DELETE /delete_account",
            c.delete_form("/delete_account", &[("password", PASSWORD)]),
        ),
        (
            "POST /password/change",
            c.post_form(
                "/password/change",
                &[
                    ("old_password", PASSWORD),
                    ("new_password", "another one 2"),
                ],
            ),
        ),
    ]
}

#[test]
fn dev_mode_refuses_cross_site_state_changes() {
    let server = Server::start(json!({}), &["--dev"]);
    let db = server.db();
    let c = server.client();
    let bob = c.register("bob", PASSWORD);
    let garbage_token = c.token("not-a-session");
    let garbage_cookie = c.cookie("2|1:0|10:1|12:access_token|4:eA==|00");
    for (name, value) in CROSS_SITE {
        // No credentials, or ones that lead to no session: all of them
        // end up as the dev administrator.
        for (label, client) in [
            ("nothing", &c),
            ("a bad token", &garbage_token),
            ("a bad cookie", &garbage_cookie),
        ] {
            let attacker = client.header(name, value);
            for (what, r) in state_changes(&attacker) {
                if what == "POST /logout" && label == "a bad token" {
                    // A header token is no dev session and ends nothing:
                    // and a page on another site cannot send one.
                    continue;
                }
                let context = format!("{what} with {label} and {name}: {value}");
                assert_eq!(r.status, 403, "{context}: {}", r.body);
                r.assert_error(403, "cross_origin_request");
            }
        }
    }
    assert_eq!(role_of(db, "bob").as_deref(), Some("guest"));
    assert_eq!(user_count(db), 1);
    assert_eq!(c.token(&bob).get("/roles").ok_json()["role"], "guest");
    c.login("bob", PASSWORD);
    // The platform still answers, and reading stays allowed.
    assert_eq!(
        c.header("Origin", "https://evil.example")
            .get("/users")
            .status,
        200
    );
}

#[test]
fn dev_mode_serves_same_origin_state_changes() {
    let server = Server::start(json!({}), &["--dev"]);
    let db = server.db();
    let c = server.client();
    c.register("bob", PASSWORD);
    let own_page = c
        .header("Origin", &format!("https://127.0.0.1:{}", server.port))
        .header("Sec-Fetch-Site", "same-origin");
    let r = own_page.post_form("/roles", &[("user_name", "bob"), ("role", "teacher")]);
    assert_eq!(r.ok_json()["success"], true);
    assert_eq!(role_of(db, "bob").as_deref(), Some("teacher"));
    // A tool that sends neither header (curl, a script) is not a browser
    // on another site.
    let r = c.post_form("/roles", &[("user_name", "bob"), ("role", "parent")]);
    assert_eq!(r.ok_json()["success"], true);
    assert_eq!(role_of(db, "bob").as_deref(), Some("parent"));
    assert_eq!(own_page.post("/logout").status, 200);
}

#[test]
fn dev_mode_on_a_non_loopback_address_exits_2_naming_bind() {
    for bind in [
        "0.0.0.0",
        "::",
        "192.0.2.10",
        "10.1.2.3",
        "::ffff:0.0.0.0",
        "fe80::1",
    ] {
        let setup = Setup::new(None, json!({ "bind": bind }));
        let config = setup.config_path();
        let args = ["-c", config.to_str().unwrap(), "--dev"];
        let exited = run_to_exit(setup.dir(), &args, TIMEOUT);
        assert_eq!(exited.status.code(), Some(2), "{bind}: {}", exited.stderr);
        exited.assert_no_panic();
        let lines = exited.stderr_lines();
        assert_eq!(lines.len(), 1, "{bind}: one line:\n{}", exited.stderr);
        for needle in ["sse-platform: ", "'bind'", "--dev", "loopback", bind] {
            assert!(
                lines[0].contains(needle),
                "{bind}: '{needle}' not in {}",
                lines[0]
            );
        }
        assert!(exited.stdout.is_empty(), "{bind}: {}", exited.stdout);
    }
}

#[test]
fn dev_mode_behind_a_proxy_exits_2_naming_trusted_proxies() {
    let setup = Setup::new(
        None,
        json!({ "bind": "127.0.0.1", "trusted_proxies": ["127.0.0.1"] }),
    );
    let config = setup.config_path();
    let args = ["-c", config.to_str().unwrap(), "--dev"];
    let exited = run_to_exit(setup.dir(), &args, TIMEOUT);
    assert_eq!(exited.status.code(), Some(2), "{}", exited.stderr);
    let lines = exited.stderr_lines();
    assert_eq!(lines.len(), 1, "one line:\n{}", exited.stderr);
    assert!(lines[0].contains("'trusted_proxies'"), "{}", lines[0]);
}

/// Runs the server on `setup` with `--dev` until its listening line (or
/// its exit); returns that line, or stderr if it exited.
fn first_line(setup: &Setup) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let mut child = Command::new(common::BIN)
        .args(["-c", setup.config_path().to_str().unwrap(), "--dev"])
        .current_dir(setup.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sse-platform");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = BufReader::new(stdout).lines().next().and_then(Result::ok);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(TIMEOUT).ok().flatten();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    line.ok_or(stderr)
}

#[test]
fn dev_mode_starts_on_any_loopback_address() {
    let db = TestDb::new();
    for bind in ["127.0.0.2", "::ffff:127.0.0.1"] {
        let setup = Setup::new(Some(&db), json!({ "bind": bind }));
        match first_line(&setup) {
            Ok(line) => assert!(line.contains("listening on"), "{bind}: {line}"),
            Err(stderr) => panic!("{bind}: did not start: {stderr}"),
        }
    }
}
