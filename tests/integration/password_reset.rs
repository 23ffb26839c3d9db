//! Password reset by mail against a real SMTP server (aiosmtpd, see
//! `common::smtp`): the mail, the link, the reset, and everything that must
//! not happen (enumeration, reuse, hangs when the mail server is down).

use crate::common;

use common::smtp::{closed_port, BlackHole, SmtpSink};
use common::{merged, Client, PgCluster, Server, Setup, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse 1";
const NEW_PASSWORD: &str = "battery staple 2";
const PUBLIC_URL: &str = "https://lab.example:8443";
const T: Duration = Duration::from_secs(20);

/// A server whose config has `smtp` (unless null), our public URL and `extra`.
fn start(smtp: Value, extra: Value) -> Server {
    let config = merged(json!({"smtp": smtp, "public_url": PUBLIC_URL}), extra);
    Server::start(config, &[])
}

fn forgot(c: &Client, email: &str) -> common::Resp {
    c.post_json("/password/forgot", &json!({ "email": email }))
}

fn reset(c: &Client, phrase: &str, password: &str) -> common::Resp {
    c.post_json(
        "/forgot_password",
        &json!({"phrase": phrase, "new_password": password}),
    )
}

/// The link in a mail's text part.
fn link_of(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("text part");
    let start = text
        .find(&format!("{PUBLIC_URL}/forgot_password?phrase="))
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[start..]
        .split_whitespace()
        .next()
        .expect("link")
        .to_owned()
}

fn phrase_of(mail: &Value) -> String {
    let link = link_of(mail);
    link.rsplit_once("phrase=").expect("phrase=").1.to_owned()
}

#[test]
fn reset_by_mail_end_to_end_ends_old_sessions() {
    let sink = SmtpSink::start();
    let server = start(sink.config(), json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    let old = [c.login("bob", PASSWORD), c.login("bob", PASSWORD)];

    let r = forgot(&c, "bob@example.org");
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.body.is_empty());
    let mail = sink.wait_for(1, T).remove(0);
    assert_eq!(mail["rcpt_tos"], json!(["bob@example.org"]));
    assert_eq!(mail["mail_from"], "noreply@lab.example");
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert!(
        mail["subject"].as_str().unwrap().contains("SSE Platform"),
        "{mail}"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("SSE Platform"), "{text}");
    assert!(text.contains("expires in 60 minutes, at 20"), "{text}");
    assert!(text.contains(" UTC."), "{text}");
    let link = link_of(&mail);
    assert!(mail["html"]
        .as_str()
        .unwrap()
        .contains(&format!("href=\"{link}\"")));
    let phrase = phrase_of(&mail);
    assert_eq!(phrase.len(), 43, "32 bytes, URL-safe base64: {phrase}");

    let page = c.get(&format!("/forgot_password?phrase={phrase}"));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("forgot_password.js"));

    let r = reset(&c, &phrase, NEW_PASSWORD);
    assert_eq!(
        r.ok_json(),
        json!({"status": 200, "success": true, "redirect": "/login"})
    );
    for token in &old {
        c.token(token).get("/roles").assert_error(401, "no_token");
    }
    c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)])
        .assert_error(401, "password_validation_failed");
    c.login("bob", NEW_PASSWORD);

    let log = server.settled_log();
    for secret in [phrase.as_str(), NEW_PASSWORD, link.as_str()] {
        assert!(!log.contains(secret), "the log shows a secret:\n{log}");
    }
}

#[test]
fn phrase_is_single_use_and_a_new_request_replaces_it() {
    let sink = SmtpSink::start();
    let server = start(sink.config(), json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    assert_eq!(forgot(&c, "bob@example.org").status, 204);
    let first = phrase_of(&sink.wait_for(1, T)[0]);
    assert_eq!(forgot(&c, "BOB@example.org").status, 204);
    let second = phrase_of(&sink.wait_for(2, T)[1]);
    assert_ne!(first, second);

    reset(&c, &first, NEW_PASSWORD).assert_error(400, "phrase_not_valid");
    reset(&c, &second, NEW_PASSWORD).ok_json();
    reset(&c, &second, "another password 3").assert_error(400, "phrase_not_valid");
    c.login("bob", NEW_PASSWORD);
}

#[test]
fn phrase_expires_after_reset_ttl() {
    let sink = SmtpSink::start();
    let server = start(sink.config(), json!({"reset_ttl_seconds": 1}));
    let c = server.client();
    c.register("bob", PASSWORD);
    forgot(&c, "bob@example.org");
    let mail = sink.wait_for(1, T).remove(0);
    assert!(mail["text"]
        .as_str()
        .unwrap()
        .contains("expires in 1 second"));
    // Expiry is the passing of time itself; there is nothing to poll for.
    std::thread::sleep(Duration::from_millis(2100));
    reset(&c, &phrase_of(&mail), NEW_PASSWORD).assert_error(400, "phrase_not_valid");
    c.login("bob", PASSWORD);
}

#[test]
fn bad_input_is_refused_without_using_the_phrase() {
    let sink = SmtpSink::start();
    let server = start(sink.config(), json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    forgot(&c, "bob@example.org");
    let phrase = phrase_of(&sink.wait_for(1, T)[0]);

    reset(&c, &phrase, "short").assert_error(400, "password_too_short");
    reset(&c, &phrase, &"x".repeat(1025)).assert_error(400, "password_too_long");
    reset(&c, "3f6c1d2e-5a4b-4c3d-9e8f-7a6b5c4d3e2f", NEW_PASSWORD)
        .assert_error(400, "phrase_not_valid");
    reset(&c, &"A".repeat(43), NEW_PASSWORD).assert_error(400, "phrase_not_valid");
    c.post_json("/forgot_password", &json!({"phrase": phrase}))
        .assert_error(400, "missing_query_parameter");
    forgot(&c, "not-an-address").assert_error(400, "invalid_email");
    c.post_json("/password/forgot", &json!({}))
        .assert_error(400, "missing_query_parameter");
    reset(&c, &phrase, NEW_PASSWORD).ok_json();
}

/// The answer cannot tell an unknown email from a known one, because the
/// request does no work that depends on it: it counts the request against
/// the limits of the email and the address, and queues the address for the
/// mail thread, which looks it up. With PostgreSQL stopped the limits
/// cannot be counted, so both answer the same 503 (and no mail could be
/// sent: the mail thread needs the account).
#[test]
fn unknown_email_gets_the_same_answer_with_and_without_the_database_and_no_mail() {
    let cluster = PgCluster::init();
    let db = TestDb::on(&cluster.conninfo());
    let sink = SmtpSink::start();
    let extra = json!({"reset_max_per_email": 1000, "reset_max_per_address": 1000,
                       "pg_checkout_timeout_seconds": 5});
    let config = merged(
        json!({"smtp": sink.config(), "public_url": PUBLIC_URL}),
        extra,
    );
    let server = Setup::new(Some(&db), config).start(&[]);
    let c = server.client();
    c.register("bob", PASSWORD);

    let unknown = forgot(&c, "nobody@example.org");
    let known = forgot(&c, "bob@example.org");
    assert_eq!((unknown.status, &unknown.body), (204, &known.body));
    let names = |r: &common::Resp| {
        let mut h: Vec<String> = r.headers.iter().map(|(k, _)| k.clone()).collect();
        h.sort();
        h
    };
    assert_eq!(names(&unknown), names(&known));
    // The mail thread works in order: once bob's mail is in, the unknown
    // address has been handled too, and it sent nothing.
    let mails = sink.wait_for(1, T);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@example.org"]));

    cluster.stop();
    let away = forgot(&c, "bob@example.org");
    away.assert_error(503, "database_unavailable");
    let unknown_away = forgot(&c, "nobody@example.org");
    assert_eq!(
        (unknown_away.status, &unknown_away.body),
        (away.status, &away.body)
    );
    assert_eq!(names(&unknown_away), names(&away));
}

#[test]
fn requests_are_limited_per_email_and_per_address() {
    let sink = SmtpSink::start();
    let limits = json!({"reset_max_per_email": 2, "reset_max_per_address": 4});
    let server = start(sink.config(), limits);
    let c = server.client();
    for _ in 0..2 {
        assert_eq!(forgot(&c, "bob@example.org").status, 204);
    }
    let r = forgot(&c, "Bob@Example.org");
    r.assert_error(429, "too_many_requests");
    let wait = r.retry_after();
    assert!((1..=3600).contains(&wait), "{wait}");
    for _ in 0..2 {
        assert_eq!(forgot(&c, "carol@example.org").status, 204);
    }
    forgot(&c, "dave@example.org").assert_error(429, "too_many_requests");
}

#[test]
fn default_limit_is_five_per_hour() {
    let sink = SmtpSink::start();
    let server = start(sink.config(), json!({}));
    let c = server.client();
    for _ in 0..5 {
        assert_eq!(forgot(&c, "nobody@example.org").status, 204);
    }
    let r = forgot(&c, "nobody@example.org");
    r.assert_error(429, "too_many_requests");
    let wait = r.retry_after();
    assert!(wait > 3500 && wait <= 3600, "{wait}");
}

#[test]
fn without_smtp_the_server_runs_and_forgot_is_503() {
    let server = start(Value::Null, json!({}));
    let log = server.wait_for_log(T, |l| l.contains("mail: off"));
    assert!(!log.contains("panicked"), "{log}");
    let c = server.client();
    forgot(&c, "bob@example.org").assert_error(503, "mail_not_configured");
    c.register("bob", PASSWORD);
}

#[test]
fn smtp_refusing_connections_still_204_fast_and_each_failure_is_logged() {
    let smtp = json!({"host": "127.0.0.1", "port": closed_port(), "security": "none",
                      "from": "noreply@lab.example", "max_attempts": 2,
                      "retry_delay_seconds": 1});
    let server = start(smtp, json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    let started = Instant::now();
    assert_eq!(forgot(&c, "bob@example.org").status, 204);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let log = server.wait_for_log(T, |l| l.contains("giving up after 2 attempts"));
    assert!(
        log.contains("not sent (attempt 1/2), retrying in 1s"),
        "{log}"
    );
    c.login("bob", PASSWORD);
}

#[test]
fn silent_smtp_server_never_hangs_a_request() {
    let hole = BlackHole::start();
    let smtp = json!({"host": "127.0.0.1", "port": hole.port, "security": "none",
                      "from": "noreply@lab.example", "timeout_seconds": 2,
                      "max_attempts": 1});
    let server = start(smtp, json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(forgot(&c, "bob@example.org").status, 204);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        // The rest of the platform answers while the mail thread waits.
        assert_eq!(c.get("/login").status, 200);
    }
    assert!(common::wait_until(T, || hole.connections() >= 1));
    server.wait_for_log(T, |l| l.contains("giving up after 1 attempts"));
}

#[test]
fn a_retry_delivers_once_the_mail_server_is_back() {
    let port = closed_port();
    let smtp = json!({"host": "127.0.0.1", "port": port, "security": "none",
                      "from": "noreply@lab.example", "max_attempts": 5,
                      "retry_delay_seconds": 1});
    let server = start(smtp, json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    assert_eq!(forgot(&c, "bob@example.org").status, 204);
    server.wait_for_log(T, |l| l.contains("not sent (attempt 1/5)"));
    let sink = SmtpSink::start_with(port, &[]);
    let mail = sink.wait_for(1, T).remove(0);
    reset(&c, &phrase_of(&mail), NEW_PASSWORD).ok_json();
}

#[test]
fn google_account_gets_a_notice_instead_of_a_link() {
    let sink = SmtpSink::start();
    let server = start(sink.config(), json!({}));
    let db = server.db();
    db.client()
        .execute(
            "INSERT INTO users (email, name, hashed_password, role, google_user)
             VALUES ('gina@example.org', 'gina', NULL, 'guest', TRUE)",
            &[],
        )
        .expect("insert Google user");
    let c = server.client();
    assert_eq!(forgot(&c, "gina@example.org").status, 204);
    let mail = sink.wait_for(1, T).remove(0);
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("signs in with Google"), "{text}");
    assert!(text.contains(&format!("{PUBLIC_URL}/login")), "{text}");
    assert!(!text.contains("phrase="), "{text}");
    assert!(mail["html"]
        .as_str()
        .unwrap()
        .contains("signs in with Google"));
    let rows = db
        .client()
        .query("SELECT 1 FROM password_resets", &[])
        .expect("query");
    assert!(rows.is_empty(), "no phrase for a Google account");
}

#[test]
fn starttls_and_auth_against_a_real_server() {
    let dir = common::TempDir::new("smtp-tls");
    let (cert, key) = common::self_signed_cert();
    let cert_path = dir.path().join("smtp-cert.pem");
    let key_path = dir.path().join("smtp-key.pem");
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let smtp_password = "smtp-secret-7b1e";
    let sink = SmtpSink::start_with(
        0,
        &[
            "--starttls",
            cert_arg,
            key_arg,
            "--auth",
            "mailer",
            smtp_password,
        ],
    );
    let smtp = json!({"host": "127.0.0.1", "port": sink.port, "security": "starttls",
                      "ca_file": cert_arg, "username": "mailer", "password": smtp_password,
                      "from": "SSE Lab <noreply@lab.example>", "platform_name": "Lab Platform"});
    let server = start(smtp, json!({}));
    let c = server.client();
    c.register("bob", PASSWORD);
    assert_eq!(forgot(&c, "bob@example.org").status, 204);
    let mail = sink.wait_for(1, T).remove(0);
    assert_eq!(mail["tls"], true);
    assert_eq!(mail["authenticated"], true);
    assert!(mail["subject"]
        .as_str()
        .unwrap()
        .starts_with("Lab Platform"));
    assert!(!server.settled_log().contains(smtp_password));
}

#[test]
fn a_bad_smtp_section_stops_start_up_naming_the_key() {
    let smtp = json!({"host": "mail.example.org", "security": "none", "from": "a@b.org"});
    let setup = common::Setup::new(None, json!({ "smtp": smtp }));
    let Err(exited) = setup.try_start(&[]) else {
        panic!("started with plaintext SMTP to a remote host")
    };
    assert_eq!(exited.status.code(), Some(2), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("'smtp.security'"),
        "{}",
        exited.stderr
    );
    exited.assert_no_panic();
}
