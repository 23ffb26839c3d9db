//! The audit trail's writer: entries reach the table soon after the act,
//! hold no typed secret, survive a clean stop, and age out.

use crate::common;

use common::{form, wait_until, Server};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "Pw-Audit-Right-4kQz";
const WRONG: &str = "Pw-Audit-Wrong-8mXv";
/// A password typed into the name field, as people do.
const TYPED_AS_NAME: &str = "Pw-Typed-As-Name-2wE";

type Row = (String, String, Option<String>, Option<String>, String);

fn rows(server: &Server) -> Vec<Row> {
    let mut c = server.db().client();
    c.query(
        "SELECT actor, action, target, address, outcome FROM audit_events ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
    .collect()
}

fn user_id(server: &Server, name: &str) -> i32 {
    let mut c = server.db().client();
    c.query_one("SELECT id FROM users WHERE name = $1", &[&name])
        .unwrap()
        .get(0)
}

#[test]
fn logins_and_logouts_are_recorded_without_what_was_typed() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("auditee", PASSWORD);
    let id = user_id(&server, "auditee");
    let fresh = c.login("auditee", PASSWORD);
    let wrong = form(&[("nickname", "auditee"), ("password", WRONG)]);
    assert_eq!(c.post(&format!("/login?{wrong}")).status, 401);
    let unknown = c.post_form(
        "/login",
        &[("nickname", TYPED_AS_NAME), ("password", PASSWORD)],
    );
    assert_eq!(unknown.status, 409, "{}", unknown.body);
    let out = c.bearer(&fresh).post("/logout");
    assert_eq!(out.status, 200, "{}", out.body);

    let user = format!("user:{id}");
    let expected: Vec<(&str, &str, Option<&str>, &str)> = vec![
        (&user, "login", None, "ok"),
        (
            "anonymous",
            "login",
            Some(&user),
            "password_validation_failed",
        ),
        ("anonymous", "login", None, "user_not_found"),
        (&user, "logout", None, "ok"),
    ];
    let mut seen = Vec::new();
    let complete = wait_until(Duration::from_secs(10), || {
        seen = rows(&server);
        seen.iter()
            .filter(|r| r.1 == "login" || r.1 == "logout")
            .count()
            >= expected.len()
    });
    assert!(complete, "trail: {seen:?}");
    let logins: Vec<_> = seen
        .iter()
        .filter(|r| r.1 == "login" || r.1 == "logout")
        .map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_deref(), r.4.as_str()))
        .collect();
    assert_eq!(logins, expected);
    for row in &seen {
        assert_eq!(row.3.as_deref(), Some("127.0.0.1"), "{row:?}");
        let text = format!("{row:?}");
        for secret in [PASSWORD, WRONG, TYPED_AS_NAME, &token, &fresh] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn entries_of_the_last_requests_are_written_before_a_clean_stop() {
    let config = json!({"login_max_failures": 1000, "login_max_failures_per_address": 1000,
                        "login_max_failures_per_account": 1000});
    let mut server = Server::start(config, &[]);
    let c = server.client();
    c.register("stopper", PASSWORD);
    // The writer's inserts wait behind this lock, so the entries are still
    // queued when the stop comes; it is let go a moment after the signal.
    let mut locker = server.db().client();
    let mut lock = locker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE audit_events IN EXCLUSIVE MODE")
        .unwrap();
    let attempts = 40;
    for _ in 0..attempts {
        let r = c.post_form("/login", &[("nickname", "stopper"), ("password", WRONG)]);
        assert_eq!(r.status, 401, "{}", r.body);
    }
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    lock.commit().unwrap();
    let status = server.wait_for_exit(Duration::from_secs(20)).expect("exit");
    assert!(status.success(), "{status:?}");
    let mut c = server.db().client();
    let failed: i64 = c
        .query_one(
            "SELECT count(*) FROM audit_events WHERE action = 'login' AND outcome <> 'ok'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(failed, attempts);
    assert!(!server.log().contains("unwritten"), "{}", server.log());
}

#[test]
fn entries_older_than_the_retention_are_pruned_and_newer_ones_kept() {
    let mut server = Server::start(json!({"audit_retention_days": 30}), &[]);
    server.stop();
    let mut c = server.db().client();
    c.batch_execute(
        "INSERT INTO audit_events (at, actor, action, outcome) VALUES
           (now() - interval '31 days', 'cli', 'old_enough', 'ok'),
           (now() - interval '29 days', 'cli', 'young_enough', 'ok')",
    )
    .unwrap();
    server.restart();
    let mut left = Vec::new();
    let pruned = wait_until(Duration::from_secs(10), || {
        left = rows(&server).into_iter().map(|r| r.1).collect();
        !left.iter().any(|a| a == "old_enough")
    });
    assert!(pruned, "left: {left:?}");
    assert!(left.iter().any(|a| a == "young_enough"), "left: {left:?}");
}

#[test]
fn module_sign_ins_refusals_and_departures_are_recorded() {
    use common::hub::{exchange, hub, raw, signer};
    use sse_platform::module_client::uuid4;
    let server = hub(json!({}));
    let message = |kind: &str| {
        json!({"type": kind})
            .as_object()
            .cloned()
            .unwrap_or_default()
    };
    let envelope = signer("ListServ").envelope(message("get_running_modules"), &uuid4());
    let mut a = raw(&server, "ListServ");
    assert_eq!(
        exchange(&mut a, envelope.clone(), None)["type"],
        "get_running_modules_response"
    );
    assert_eq!(
        exchange(&mut a, envelope, None)["type"],
        "signature_verification_error"
    );
    drop(a);
    let mut b = raw(&server, "ListServ");
    let forged = signer("SocialServ")
        .envelope(message("get_running_modules"), &uuid4())
        .replace("\"origin\":\"SocialServ\"", "\"origin\":\"ListServ\"");
    assert_eq!(
        exchange(&mut b, forged, None)["type"],
        "signature_verification_error"
    );
    let wanted = [
        ("module:ListServ", "module_authenticated", None, "ok"),
        (
            "anonymous",
            "module_replay_refused",
            Some("module:ListServ"),
            "replayed_resolve_id",
        ),
        ("module:ListServ", "module_disconnected", None, "ok"),
        (
            "anonymous",
            "module_signature_refused",
            None,
            "bad_signature",
        ),
    ];
    let mut seen = Vec::new();
    let all = wait_until(Duration::from_secs(10), || {
        seen = rows(&server);
        seen.len() >= wanted.len()
    });
    assert!(all, "trail: {seen:?}");
    // The departure of `a` and the refusal on `b` may be written in
    // either order.
    let mut got: Vec<_> = seen
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str(), r.2.as_deref(), r.4.as_str()))
        .collect();
    got.sort();
    let mut wanted = wanted.to_vec();
    wanted.sort();
    assert_eq!(got, wanted);
}
