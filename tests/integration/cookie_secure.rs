//! `cookie_secure`: the session cookie's `Secure` attribute. On by default
//! when browsers reach the platform over HTTPS; a lab whose modules serve
//! plain HTTP on other ports turns it off (and accepts that the cookie then
//! crosses the network readable).

use crate::common;

use common::{run_to_exit, Resp, Server, Setup};
use serde_json::{json, Value};
use std::time::Duration;

fn register(server: &Server, nickname: &str) -> Resp {
    let r = server.client().register_form(
        &format!("{nickname}@example.org"),
        nickname,
        "cookie-password",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// Registers, checks the cookie's `Secure`, then that the cookie works and
/// that logging out clears it with the same attribute.
#[track_caller]
fn assert_cookie_secure(extra: Value, secure: bool) {
    let server = Server::start(extra.clone(), &[]);
    let r = register(&server, "carol");
    let set = r.set_cookie().expect("Set-Cookie access_token");
    assert_eq!(set.contains("; Secure"), secure, "{extra}: {set}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = r.cookie_value().expect("cookie value");
    let me = server.client().cookie(&cookie);
    assert_eq!(me.get("/me").ok_json()["user"]["name"], "carol");
    let out = me.post("/logout");
    assert_eq!(out.status, 200, "{}", out.body);
    let cleared = out.set_cookie().expect("logout clears the cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(cleared.contains("; Secure"), secure, "{extra}: {cleared}");
}

#[test]
fn under_tls_the_cookie_is_secure_unless_cookie_secure_is_false() {
    assert_cookie_secure(json!({}), true);
    assert_cookie_secure(json!({"cookie_secure": true}), true);
    assert_cookie_secure(json!({"cookie_secure": false}), false);
}

#[test]
fn over_plain_http_the_cookie_is_secure_only_when_asked_or_behind_https() {
    assert_cookie_secure(json!({"tls": false}), false);
    assert_cookie_secure(json!({"tls": false, "cookie_secure": true}), true);
    let proxied = json!({"tls": false, "public_url": "https://lab.example.org"});
    assert_cookie_secure(proxied, true);
    let proxied_off =
        json!({"tls": false, "public_url": "https://lab.example.org", "cookie_secure": false});
    assert_cookie_secure(proxied_off, false);
}

#[test]
fn turning_it_off_where_browsers_use_https_is_logged_as_a_warning() {
    let server = Server::start(json!({"cookie_secure": false}), &[]);
    let db = server.db();
    let log = server.wait_for_log(Duration::from_secs(5), |l| l.contains("cookie_secure"));
    let line = log.lines().find(|l| l.contains("cookie_secure"));
    assert!(
        line.is_some_and(|l| l.contains("WARN") && l.contains("plain HTTP")),
        "{log}"
    );
    let quiet = Setup::new(Some(db), json!({"cookie_secure": true})).start(&[]);
    assert!(!quiet.settled_log().contains("cookie_secure"));
}

#[test]
fn cookie_secure_must_be_true_or_false() {
    for bad in [json!("yes"), json!(1), json!("false"), json!([true])] {
        let setup = Setup::new(None, json!({"cookie_secure": bad}));
        let config = setup.config_path();
        let exited = run_to_exit(
            setup.dir(),
            &["-c", config.to_str().expect("utf-8 path")],
            Duration::from_secs(20),
        );
        assert_eq!(exited.status.code(), Some(2), "{bad}: {}", exited.stderr);
        exited.assert_no_panic();
        let line = exited
            .stderr_lines()
            .into_iter()
            .find(|l| l.contains("cookie_secure"));
        assert!(
            line.is_some_and(|l| l.contains("expected true or false")),
            "{}",
            exited.stderr
        );
    }
}
