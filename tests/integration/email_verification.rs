//! E-mail verification (`require_email_verification`) against a real SMTP
//! server (aiosmtpd, `common::smtp`): the mail, the link's page and its
//! single use, expiry, resending and its limits, the admin's mark, accounts
//! from before, the option off, and no secret in the log.

use crate::common;

use common::smtp::SmtpSink;
use common::{merged, wait_until, Client, Server, Setup, TestDb};
use common::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "Pw-Verify-Right-7hQs";
const PUBLIC_URL: &str = "https://lab.example:8443";
const T: Duration = Duration::from_secs(20);

/// A server that requires verification, with mail to `sink`, and `extra`.
fn start(sink: &SmtpSink, extra: Value) -> Server {
    let config = merged(
        json!({"smtp": sink.config(), "public_url": PUBLIC_URL,
               "require_email_verification": true}),
        extra,
    );
    Server::start(config, &["--create_admin"])
}

fn register(c: &Client, name: &str) -> common::Resp {
    c.register_form(&format!("{name}@example.org"), name, PASSWORD)
}

fn login(c: &Client, name: &str) -> common::Resp {
    c.post_form("/login", &[("nickname", name), ("password", PASSWORD)])
}

fn token_of(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("text part");
    let prefix = format!("{PUBLIC_URL}/verify_email?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link in {text}"));
    let link = text[start..].split_whitespace().next().expect("link");
    link[prefix.len()..].to_owned()
}

fn verify(c: &Client, token: &str) -> common::Resp {
    c.post_json("/verify_email", &json!({ "token": token }))
}

fn resend(c: &Client, email: &str) -> common::Resp {
    c.post_json("/verify_email/resend", &json!({ "email": email }))
}

fn actions(server: &Server) -> Vec<(String, String, Option<String>, String)> {
    let mut c = server.db().client();
    c.query(
        "SELECT actor, action, target, outcome FROM audit_events ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect()
}

fn user_id(server: &Server, name: &str) -> i32 {
    let mut c = server.db().client();
    c.query_one("SELECT id FROM users WHERE name = $1", &[&name])
        .unwrap()
        .get(0)
}

#[test]
fn register_mail_refused_login_link_then_login_works() {
    let sink = SmtpSink::start();
    let server = start(&sink, json!({}));
    let c = server.client();
    let r = register(&c, "vera");
    assert_eq!(
        r.ok_json(),
        json!({"status": 200, "success": true, "verification_required": true,
               "redirect": "/login?verify=1"})
    );
    assert!(
        r.header("set-cookie").is_none(),
        "no session before verifying"
    );
    let mail = sink.wait_for(1, T).remove(0);
    assert_eq!(mail["rcpt_tos"], json!(["vera@example.org"]));
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("expires in 48 hours"), "{text}");
    let token = token_of(&mail);
    assert_eq!(token.len(), 43);

    login(&c, "vera").assert_error(403, "email_not_verified");
    // A wrong password still says only that: nothing about verification.
    c.post_form(
        "/login",
        &[("nickname", "vera"), ("password", "wrong pass 1")],
    )
    .assert_error(401, "password_validation_failed");

    // The link opens a page; fetching it (as mail scanners do) uses nothing.
    let page = c.get(&format!("/verify_email?token={token}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("verify_email.js"), "{}", page.body);
    login(&c, "vera").assert_error(403, "email_not_verified");

    assert_eq!(
        verify(&c, &token).ok_json(),
        json!({"status": 200, "success": true, "redirect": "/login?verified=1"})
    );
    assert!(login(&c, "vera").ok_json()["access_token"].is_string());

    let id = user_id(&server, "vera");
    let user = format!("user:{id}");
    let want = [
        (user.as_str(), "email_verification_requested", None, "ok"),
        (
            "anonymous",
            "login",
            Some(user.as_str()),
            "email_not_verified",
        ),
        (user.as_str(), "email_verified", None, "ok"),
    ];
    let mut seen = Vec::new();
    let done = wait_until(T, || {
        seen = actions(&server);
        want.iter().all(|w| {
            seen.iter()
                .any(|s| (s.0.as_str(), s.1.as_str(), s.2.as_deref(), s.3.as_str()) == *w)
        })
    });
    assert!(done, "trail: {seen:?}");

    let log = server.settled_log();
    let link = format!("verify_email?token={token}");
    for secret in [token.as_str(), link.as_str(), PASSWORD] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
    for (actor, action, target, outcome) in &seen {
        let row = format!("{actor} {action} {target:?} {outcome}");
        assert!(!row.contains(&token) && !row.contains(PASSWORD), "{row}");
    }
}

#[test]
fn a_link_works_once_a_new_one_replaces_it_and_junk_is_refused() {
    let sink = SmtpSink::start();
    let server = start(&sink, json!({}));
    let c = server.client();
    register(&c, "vic").ok_json();
    let first = token_of(&sink.wait_for(1, T)[0]);
    assert_eq!(resend(&c, "VIC@example.org").status, 204);
    let second = token_of(&sink.wait_for(2, T)[1]);
    assert_ne!(first, second);

    verify(&c, &first).assert_error(400, "token_not_valid");
    for junk in [
        "",
        "x",
        &"A".repeat(43),
        "../../etc/passwd",
        &"é".repeat(43),
    ] {
        let r = verify(&c, junk);
        assert_eq!(r.status, 400, "{junk:?}: {}", r.body);
    }
    verify(&c, &second).ok_json();
    verify(&c, &second).assert_error(400, "token_not_valid");
    login(&c, "vic").ok_json();
    // Verified: asking again sends nothing more.
    assert_eq!(resend(&c, "vic@example.org").status, 204);
    register(&c, "other").ok_json();
    let mails = sink.wait_for(3, T);
    assert_eq!(
        mails[2]["rcpt_tos"],
        json!(["other@example.org"]),
        "{mails:?}"
    );
}

#[test]
fn a_password_reset_by_mail_verifies_the_address_too() {
    let sink = SmtpSink::start();
    let server = start(&sink, json!({}));
    let c = server.client();
    register(&c, "rita").ok_json();
    sink.wait_for(1, T);
    c.post_form("/password/forgot", &[("email", "rita@example.org")]);
    let mail = sink.wait_for(2, T).remove(1);
    let text = mail["text"].as_str().unwrap();
    let at = text.find("phrase=").expect("a reset link") + "phrase=".len();
    let phrase = text[at..].split_whitespace().next().unwrap();
    let new = "Pw-Verify-New-3kLm";
    c.post_json(
        "/forgot_password",
        &json!({"phrase": phrase, "new_password": new}),
    )
    .ok_json();
    c.login("rita", new);
}

#[test]
fn a_link_expires_after_email_verification_hours() {
    let sink = SmtpSink::start();
    let server = start(&sink, json!({"email_verification_hours": 1}));
    let c = server.client();
    register(&c, "old").ok_json();
    let token = token_of(&sink.wait_for(1, T)[0]);
    // Expiry is the passing of time: age the link in the database instead.
    let mut db = server.db().client();
    db.execute(
        "UPDATE email_verifications SET expires_at = expires_at - 3601",
        &[],
    )
    .unwrap();
    verify(&c, &token).assert_error(400, "token_not_valid");
    login(&c, "old").assert_error(403, "email_not_verified");
}

#[test]
fn resend_answers_alike_for_any_address_and_is_limited() {
    let sink = SmtpSink::start();
    let limits = json!({"email_verification_max_per_email": 2,
                        "email_verification_max_per_address": 4});
    let server = start(&sink, limits);
    let c = server.client();
    let unknown = resend(&c, "nobody@example.org");
    let known = resend(&c, ADMIN_EMAIL);
    assert_eq!((unknown.status, &unknown.body), (204, &known.body));
    resend(&c, "nobody@example.org");
    let r = resend(&c, "Nobody@Example.org");
    r.assert_error(429, "too_many_requests");
    assert!((1..=3600).contains(&r.retry_after()));
    resend(&c, "carol@example.org");
    resend(&c, "dave@example.org").assert_error(429, "too_many_requests");
    resend(&c, "not-an-address").assert_error(400, "invalid_email");
    // Neither unknown nor verified accounts got mail: the mail thread works
    // in order, so the first mail is the next registration's.
    register(&c, "zoe").ok_json();
    let mails = sink.wait_for(1, T);
    assert_eq!(
        mails[0]["rcpt_tos"],
        json!(["zoe@example.org"]),
        "{mails:?}"
    );
}

#[test]
fn the_admin_marks_an_account_verified_and_users_shows_it() {
    let sink = SmtpSink::start();
    let server = start(&sink, json!({}));
    let c = server.client();
    register(&c, "wanda").ok_json();
    let id = user_id(&server, "wanda");
    let admin = c.login(ADMIN_NAME, ADMIN_PASSWORD);
    let verified = |name: &str| -> Value {
        let list = c.token(&admin).get("/users").ok_json()["user_list"].clone();
        let users = list.as_array().cloned().unwrap_or_default();
        let user = users.iter().find(|u| u["name"] == name).cloned();
        user.map_or(Value::Null, |u| u["verified"].clone())
    };
    assert_eq!(verified("wanda"), json!(false));
    assert_eq!(verified(ADMIN_NAME), json!(true));

    let mark = |token: &str, user_id: &str| {
        c.token(token)
            .post_json("/users/verify", &json!({ "user_id": user_id }))
    };
    let own = login(&c, "wanda");
    assert_eq!(own.status, 403);
    mark("not a token", &id.to_string()).assert_error(401, "no_token");
    mark(&admin, "x").assert_error(400, "user_id_not_valid");
    mark(&admin, "99999").assert_error(404, "user_not_found");
    mark(&admin, &id.to_string()).ok_json();
    assert_eq!(verified("wanda"), json!(true));
    login(&c, "wanda").ok_json();
    // Its pending link went with the mark.
    let token = token_of(&sink.wait_for(1, T)[0]);
    verify(&c, &token).assert_error(400, "token_not_valid");
    let want = (
        "email_verified_by_admin".to_owned(),
        Some(format!("user:{id}")),
    );
    let done = wait_until(T, || {
        actions(&server)
            .iter()
            .any(|a| (a.1.clone(), a.2.clone()) == want)
    });
    assert!(done, "{:?}", actions(&server));
}

/// sql/012 on a database with accounts: they count as verified. (The
/// first run applies every step; the step is then undone by hand, so the
/// second run applies it to a table that has rows.)
#[test]
fn accounts_that_exist_when_the_step_runs_count_as_verified() {
    let db = TestDb::new();
    let sink = SmtpSink::start();
    let off = Setup::new(Some(&db), json!({})).start(&[]);
    off.client().register("early", PASSWORD);
    drop(off);
    db.client()
        .batch_execute(
            "DROP TABLE email_verifications; ALTER TABLE users DROP COLUMN email_verified;
             DELETE FROM schema_version WHERE version = 12",
        )
        .unwrap();
    let config = json!({"smtp": sink.config(), "public_url": PUBLIC_URL,
                        "require_email_verification": true});
    let on = Setup::new(Some(&db), config).start(&[]);
    let c = on.client();
    assert!(login(&c, "early").ok_json()["access_token"].is_string());
    register(&c, "late").ok_json();
    login(&c, "late").assert_error(403, "email_not_verified");
}

#[test]
fn with_the_option_off_registration_and_login_are_as_before() {
    let sink = SmtpSink::start();
    let config = json!({"smtp": sink.config(), "public_url": PUBLIC_URL});
    let server = Server::start(config, &[]);
    let c = server.client();
    let token = c.register("plain", PASSWORD);
    assert!(!token.is_empty());
    login(&c, "plain").ok_json();
    assert_eq!(resend(&c, "plain@example.org").status, 204);
    c.post_form("/password/forgot", &[("email", "plain@example.org")]);
    // Only the reset mail: nothing asked to verify the account.
    let mails = sink.wait_for(1, T);
    assert!(
        mails[0]["subject"].as_str().unwrap().contains("reset"),
        "{mails:?}"
    );
}

#[test]
fn requiring_verification_without_smtp_stops_the_start_naming_the_key() {
    let exited = Setup::new(None, json!({"require_email_verification": true}))
        .try_start(&[])
        .err()
        .expect("the server must refuse the config");
    exited.assert_one_error_naming("require_email_verification");
}
