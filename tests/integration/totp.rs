//! Two-factor sign-in with TOTP (docs/protocol.md, "Two-factor sign-in"): enrolment, the
//! login's second step, clock skew, replays, recovery codes, the failure
//! limits, a role that must enrol, the administrator's reset, and that the
//! secret is stored sealed and never logged. Codes are computed here from
//! the secret the server showed, by this file's own RFC 6238.

use crate::common;

use common::totp::{audited, code, fresh_step, hotp, step_now, user_id, wrong_code};
use common::{run_to_exit, Client, Resp, Server, Setup, TestDb, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "totp password 1";

#[test]
fn rfc_6238_appendix_b_vectors() {
    // The SHA-1 rows; eight digits there, the last six here.
    let secret = b"12345678901234567890";
    for (time, eight) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(format!("{:06}", hotp(secret, time / 30)), eight[2..]);
    }
}

fn key_hex() -> String {
    common::random_hex(32)
}

fn start(extra: Value) -> Server {
    let config = common::merged(json!({"totp_encryption_key": key_hex()}), extra);
    Server::start(config, &["--create_admin"])
}

/// Enrols the caller of `c` (a session client); returns the secret's
/// bytes, its base32 text, the recovery codes and the code that confirmed.
fn enrol(c: &Client) -> (Vec<u8>, String, Vec<String>, String) {
    let e = c.post("/totp/enrol").ok_json();
    let text = e["secret"].as_str().expect("secret").to_owned();
    assert_eq!(text.len(), 32, "160 bits in base32: {text}");
    assert!(e["otpauth_uri"].as_str().unwrap().contains(&text), "{e}");
    assert!(e["qr_svg"].as_str().unwrap().starts_with("<?xml"), "{e}");
    let secret = data_encoding::BASE32_NOPAD.decode(text.as_bytes()).unwrap();
    let current = code(&secret, fresh_step());
    let r = c
        .post_form("/totp/confirm", &[("code", &current)])
        .ok_json();
    let codes: Vec<String> = serde_json::from_value(r["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10, "{r}");
    (secret, text, codes, current)
}

/// A password login that must answer a challenge; returns it.
fn challenge(c: &Client, name: &str, enrol: bool) -> String {
    let r = c.post_form("/login", &[("nickname", name), ("password", PASSWORD)]);
    assert!(
        r.set_cookie().is_none(),
        "no session before the second step"
    );
    let v = r.ok_json();
    assert_eq!(v["totp_required"], true, "{v}");
    assert_eq!(v["totp_enrol"], enrol, "{v}");
    assert!(v.get("access_token").is_none(), "{v}");
    v["challenge"].as_str().unwrap().to_owned()
}

fn step(c: &Client, challenge: &str, code: &str) -> Resp {
    c.post_form("/login/totp", &[("challenge", challenge), ("code", code)])
}

/// The second step succeeds with a session that works.
#[track_caller]
fn signs_in(c: &Client, r: &Resp) -> Value {
    let v = r.ok_json();
    let token = v["access_token"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert!(r.set_cookie().is_some());
    assert_eq!(c.token(token).get("/me").status, 200);
    v
}

/// Lets the test reuse steps (the replay rule is tested on its own).
fn forget_used_steps(db: &TestDb) {
    db.client()
        .execute("UPDATE totp_secrets SET last_step = 0", &[])
        .unwrap();
}

#[test]
fn enrol_and_log_in_with_skew_replays_and_recovery_codes() {
    let server = start(json!({"totp_challenge_max_failures": 50}));
    let c = server.client();
    let me = c.token(&c.register("ann", PASSWORD));
    let s = me.get("/totp").ok_json();
    assert_eq!(
        (s["enabled"].clone(), s["configured"].clone()),
        (json!(false), json!(true))
    );
    me.post_form("/totp/confirm", &[("code", "123456")])
        .assert_error(409, "totp_not_enrolling");
    let (secret, text, recovery, confirmed) = enrol(&me);
    me.post("/totp/enrol")
        .assert_error(409, "totp_already_enabled");
    assert_eq!(me.get("/totp").ok_json()["recovery_codes_left"], 10);

    // Sealed: neither the base32 text nor the bytes are in the row.
    let row = server
        .db()
        .client()
        .query_one("SELECT * FROM totp_secrets", &[])
        .unwrap();
    let sealed: Vec<u8> = row.get("sealed_secret");
    assert!(sealed.len() >= 20 + 12 + 16, "nonce, ciphertext, tag");
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
    assert!(!sealed.windows(text.len()).any(|w| w == text.as_bytes()));

    // The confirmation's code cannot be used again to log in.
    let ch = challenge(&c, "ann", false);
    step(&c, &ch, &confirmed).assert_error(401, "totp_code_used");

    forget_used_steps(server.db());
    let t = fresh_step();
    let back = code(&secret, t - 1);
    signs_in(&c, &step(&c, &ch, &back));
    step(&c, &ch, &back).assert_error(401, "totp_challenge_not_valid");
    let ch = challenge(&c, "ann", false);
    step(&c, &ch, &back).assert_error(401, "totp_code_used");
    signs_in(&c, &step(&c, &ch, &code(&secret, fresh_step() + 1)));

    // Two steps away is refused either way (whichever step the server is at).
    forget_used_steps(server.db());
    let ch = challenge(&c, "ann", false);
    let t = step_now();
    for far in [t - 2, t + 3] {
        step(&c, &ch, &code(&secret, far)).assert_error(401, "totp_code_not_valid");
    }

    // A recovery code works once, typed in any case.
    signs_in(&c, &step(&c, &ch, &recovery[0].to_uppercase()));
    let ch = challenge(&c, "ann", false);
    step(&c, &ch, &recovery[0]).assert_error(401, "totp_code_not_valid");
    assert_eq!(me.get("/totp").ok_json()["recovery_codes_left"], 9);

    let log = server.settled_log();
    for secret in [
        text.as_str(),
        ch.as_str(),
        recovery[0].as_str(),
        recovery[1].as_str(),
        &back,
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    assert!(log.contains("turned TOTP on"), "{log}");
    let user = format!("user:{}", user_id(&server, "ann"));
    audited(&server, &user, "totp_enrolled", None, "ok");
    audited(&server, &user, "login_second_step", None, "ok");
    audited(&server, &user, "login_second_step", None, "totp_code_used");
    audited(
        &server,
        &user,
        "login_second_step",
        None,
        "totp_code_not_valid",
    );
    audited(&server, &user, "totp_recovery_code_used", None, "ok");
    audited(
        &server,
        "anonymous",
        "login_second_step",
        None,
        "totp_challenge_not_valid",
    );
    let trail: Vec<String> = server
        .db()
        .client()
        .query(
            "SELECT concat_ws(' ', actor, action, target, address, outcome) FROM audit_events",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for secret in [text.as_str(), ch.as_str(), recovery[0].as_str(), &back] {
        assert!(
            !trail.iter().any(|t| t.contains(secret)),
            "{secret} in the trail"
        );
    }
}

#[test]
fn wrong_codes_end_a_challenge_and_count_per_account() {
    let server = start(json!({
        "totp_challenge_max_failures": 3,
        "totp_max_failures_per_account": 5,
    }));
    let c = server.client();
    let me = c.token(&c.register("bea", PASSWORD));
    let (secret, ..) = enrol(&me);
    forget_used_steps(server.db());
    let wrong = wrong_code(&secret);

    let ch = challenge(&c, "bea", false);
    for _ in 0..3 {
        step(&c, &ch, &wrong).assert_error(401, "totp_code_not_valid");
    }
    let right = code(&secret, fresh_step());
    step(&c, &ch, &right).assert_error(401, "totp_challenge_not_valid");

    let ch = challenge(&c, "bea", false);
    step(&c, &ch, "not a code").assert_error(401, "totp_code_not_valid");
    step(&c, &ch, &wrong).assert_error(401, "totp_code_not_valid");
    let r = step(&c, &ch, &right);
    r.assert_error(429, "too_many_attempts");
    assert!(r.retry_after() >= 1);

    for bad in ["", "x", &"A".repeat(44), &"é".repeat(30)] {
        let r = step(&c, bad, &right);
        assert!(r.status == 400 || r.status == 401, "{bad}: {}", r.body);
    }
    c.post_form("/login/totp", &[("challenge", &ch)])
        .assert_error(400, "missing_query_parameter");
}

#[test]
fn a_required_role_enrols_at_login_and_an_admin_resets() {
    let server = start(json!({"totp_required_roles": ["admin"]}));
    let c = server.client();
    // A guest is not asked.
    let bob = c.token(&c.register("bob", PASSWORD));

    let r = c.post_form(
        "/login",
        &[("nickname", ADMIN_NAME), ("password", ADMIN_PASSWORD)],
    );
    let v = r.ok_json();
    assert_eq!(
        (v["totp_required"].clone(), v["totp_enrol"].clone()),
        (json!(true), json!(true))
    );
    let ch = v["challenge"].as_str().unwrap().to_owned();
    step(&c, &ch, "123456").assert_error(409, "totp_not_enrolling");
    let e = c
        .post_form("/login/totp/enrol", &[("challenge", &ch)])
        .ok_json();
    let admin_secret = data_encoding::BASE32_NOPAD
        .decode(e["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let current = code(&admin_secret, fresh_step());
    let r = step(&c, &ch, &current);
    let v = signs_in(&c, &r);
    assert_eq!(
        v["recovery_codes"].as_array().map(Vec::len),
        Some(10),
        "{v}"
    );
    let admin = c.token(v["access_token"].as_str().unwrap());
    let r = c.post_form(
        "/login",
        &[("nickname", ADMIN_NAME), ("password", ADMIN_PASSWORD)],
    );
    assert_eq!(r.ok_json()["totp_enrol"], false, "enrolled now");

    // Bob enrols, loses his phone, and the admin resets his second factor.
    enrol(&bob);
    challenge(&c, "bob", false);
    let id = user_id(&server, "bob").to_string();
    bob.post_form("/users/totp/reset", &[("user_id", &id)])
        .assert_error(403, "user_not_admin");
    admin
        .post_form("/users/totp/reset", &[("user_id", "99999")])
        .assert_error(404, "user_not_found");
    admin
        .post_form("/users/totp/reset", &[("user_id", "bob")])
        .assert_error(400, "user_id_not_valid");
    let r = admin.post_form("/users/totp/reset", &[("user_id", &id)]);
    assert_eq!(r.ok_json()["removed"], true);
    let token = c.login("bob", PASSWORD);
    assert_eq!(c.token(&token).get("/totp").ok_json()["enabled"], false);
    let log = server.settled_log();
    assert!(
        log.contains(&format!("reset the second factor of user {id}")),
        "{log}"
    );
}

#[test]
fn turning_it_off_needs_the_password_or_a_code() {
    let server = start(json!({}));
    let c = server.client();
    let me = c.token(&c.register("cy", PASSWORD));
    me.post("/totp/disable")
        .assert_error(400, "missing_query_parameter");
    let (secret, ..) = enrol(&me);
    me.post_form("/totp/disable", &[("password", "wrong password")])
        .assert_error(401, "password_validation_failed");
    forget_used_steps(server.db());
    me.post_form("/totp/disable", &[("code", &wrong_code(&secret))])
        .assert_error(401, "totp_code_not_valid");
    let r = me.post_form("/totp/disable", &[("code", &code(&secret, fresh_step()))]);
    assert_eq!(r.ok_json()["success"], true);
    assert_eq!(me.get("/totp").ok_json()["enabled"], false);
    c.login("cy", PASSWORD);

    enrol(&me);
    let r = me.post_form("/totp/disable", &[("password", PASSWORD)]);
    assert_eq!(r.ok_json()["success"], true);
    me.post_form("/totp/disable", &[("password", PASSWORD)])
        .assert_error(409, "totp_not_enabled");
    let user = format!("user:{}", user_id(&server, "cy"));
    audited(&server, &user, "totp_disabled", None, "ok");
    audited(
        &server,
        &user,
        "totp_disabled",
        None,
        "password_validation_failed",
    );
}

#[test]
fn without_a_key_enrolment_is_not_configured_and_required_roles_refuse_to_start() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let me = c.token(&c.register("dee", PASSWORD));
    assert_eq!(me.get("/totp").ok_json()["configured"], false);
    me.post("/totp/enrol")
        .assert_error(503, "totp_not_configured");

    let db = TestDb::new();
    let setup = Setup::new(Some(&db), json!({"totp_required_roles": ["admin"]}));
    let exited = run_to_exit(
        setup.dir(),
        &["check-config", "-c", "config.json"],
        Duration::from_secs(30),
    );
    assert_eq!(exited.status.code(), Some(2), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("totp_required_roles"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("totp_encryption_key"),
        "{}",
        exited.stderr
    );
    match setup.try_start(&[]) {
        Ok(_) => panic!("started with required roles and no key"),
        Err(exited) => exited.assert_one_error_naming("totp_required_roles"),
    }
    let bad = Setup::new(Some(&db), json!({"totp_encryption_key": "abc"}));
    match bad.try_start(&[]) {
        Ok(_) => panic!("started with a short key"),
        Err(exited) => exited.assert_one_error_naming("totp_encryption_key"),
    }
}

#[test]
fn google_sign_in_takes_the_second_step_too() {
    use common::oidc::{claims, jwks, JwksServer, Key, CLIENT_ID};
    let key = Key::ec("ec-totp");
    let provider = JwksServer::start(&jwks(&[&key]));
    let oidc = json!({"client_id": CLIENT_ID, "jwks_url": provider.url()});
    let server = start(json!({"oidc": oidc, "totp_required_roles": ["guest"]}));
    let c = server.client();
    let signin = || {
        let token = key.sign(&claims("gus@example.org", "Gus"));
        let r = c.post_json("/google_signin", &json!({ "id_token": token }));
        assert!(
            r.set_cookie().is_none(),
            "no session before the second step"
        );
        r.ok_json()
    };
    // A first sign-in makes a guest, a required role: enrolment first.
    let v = signin();
    assert_eq!(
        (v["totp_required"].clone(), v["totp_enrol"].clone()),
        (json!(true), json!(true))
    );
    let ch = v["challenge"].as_str().unwrap().to_owned();
    let e = c
        .post_form("/login/totp/enrol", &[("challenge", &ch)])
        .ok_json();
    let secret = data_encoding::BASE32_NOPAD
        .decode(e["secret"].as_str().unwrap().as_bytes())
        .unwrap();
    let t = fresh_step();
    let v = signs_in(&c, &step(&c, &ch, &code(&secret, t)));
    let me = c.token(v["access_token"].as_str().unwrap());
    let recovery = v["recovery_codes"][0].as_str().unwrap().to_owned();

    let v = signin();
    assert_eq!(v["totp_enrol"], false, "{v}");
    let ch = v["challenge"].as_str().unwrap().to_owned();
    signs_in(&c, &step(&c, &ch, &code(&secret, t + 1)));
    // No password to turn it off with: a code (here a recovery code) does it.
    me.post_form("/totp/disable", &[("password", "anything at all")])
        .assert_error(400, "google_account_has_no_password");
    let r = me.post_form("/totp/disable", &[("code", &recovery)]);
    assert_eq!(r.ok_json()["success"], true);
    assert_eq!(me.get("/totp").ok_json()["enabled"], false);
}
