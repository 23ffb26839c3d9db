//! Access tokens and sessions: the Tornado cookie byte for byte, the
//! Authorization header, databases made by the original, restarts, and
//! sliding and absolute expiry.

use crate::common;

use common::{tornado_cookie, unix_now, vectors, Server, Setup, TestDb};
use serde_json::json;
use sha2::Digest;
use std::time::{Duration, Instant};

const PASSWORD: &str = "token password 1";

/// Splits a v2 cookie into its fields: `[version, key_version, timestamp,
/// name, value]` without the length prefixes, and the signature.
fn cookie_fields(cookie: &str) -> (Vec<String>, String) {
    let mut parts: Vec<&str> = cookie.split('|').collect();
    let signature = parts.pop().expect("signature").to_owned();
    let fields = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                return p.to_string();
            }
            let (len, text) = p.split_once(':').expect("length prefix");
            assert_eq!(len.parse::<usize>().ok(), Some(text.len()), "{cookie}");
            text.to_owned()
        })
        .collect();
    (fields, signature)
}

#[test]
fn cookie_is_a_tornado_v2_secure_cookie_byte_for_byte() {
    let vector = &vectors()["tornado_secure_cookie_v2"];
    let secret = vector["cookie_secret"].as_str().unwrap();
    // The harness's signer reproduces Tornado's own output.
    assert_eq!(
        tornado_cookie(
            secret,
            vector["name"].as_str().unwrap(),
            vector["value"].as_str().unwrap(),
            vector["timestamp"].as_i64().unwrap()
        ),
        vector["cookie_value"].as_str().unwrap()
    );

    let server = Server::start(json!({"cookie_secret": secret}), &[]);
    let c = server.client();
    let before = unix_now();
    let r = c.register_form("bob@example.org", "bob", PASSWORD);
    let token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    let cookie = r.cookie_value().expect("cookie");
    let (fields, _) = cookie_fields(&cookie);
    assert_eq!(fields[..2], ["2", "0"], "{cookie}");
    assert_eq!(fields[3], "access_token");
    let ts: i64 = fields[2].parse().expect("timestamp");
    assert!((before..=unix_now()).contains(&ts), "timestamp {ts}");
    assert_eq!(cookie, tornado_cookie(secret, "access_token", &token, ts));
}

#[test]
fn cookie_signed_like_tornado_authenticates_and_old_cookies_do_not() {
    let vector = &vectors()["tornado_secure_cookie_v2"];
    let secret = vector["cookie_secret"].as_str().unwrap();
    let token = vector["value"].as_str().unwrap();
    let server = Server::start(json!({"cookie_secret": secret}), &[]);
    let db = server.db();
    let c = server.client();
    c.register("bob", PASSWORD);
    // A session for the vector's token, as a Tornado module would hold it.
    let now = unix_now();
    let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
    db.client()
        .execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen, expires_at)
             SELECT $1, id, $2, $2, $3 FROM users WHERE name = 'bob'",
            &[&hash, &now, &(now + 3600)],
        )
        .unwrap();
    let fresh = tornado_cookie(secret, "access_token", token, now);
    assert_eq!(c.cookie(&fresh).get("/me").ok_json()["user"]["name"], "bob");
    // The vector itself is from 2023: older than Tornado's 31 days.
    let old = vector["cookie_value"].as_str().unwrap();
    c.cookie(old).get("/me").assert_error(401, "no_token");
}

#[test]
fn authorization_header_works_bare_and_with_bearer() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    assert_eq!(c.token(&token).get("/roles").status, 200);
    assert_eq!(c.bearer(&token).get("/roles").status, 200);
    c.token("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .get("/roles")
        .assert_error(401, "no_token");
    c.token("garbage")
        .get("/roles")
        .assert_error(401, "no_token");
}

#[test]
fn cookie_with_a_bad_signature_is_ignored() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let r = c.register_form("bob@example.org", "bob", PASSWORD);
    let token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    let cookie = r.cookie_value().unwrap();
    assert_eq!(c.cookie(&cookie).get("/roles").status, 200);

    let last = cookie.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &cookie[..cookie.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    c.cookie(&flipped)
        .get("/roles")
        .assert_error(401, "no_token");
    let (fields, _) = cookie_fields(&cookie);
    let ts: i64 = fields[2].parse().unwrap();
    let foreign = tornado_cookie(
        "another secret, 32 bytes long!!!",
        "access_token",
        &token,
        ts,
    );
    c.cookie(&foreign)
        .get("/roles")
        .assert_error(401, "no_token");
    c.cookie(&token).get("/roles").assert_error(401, "no_token");
}

#[test]
fn database_of_the_original_keeps_working_and_cheap_hashes_are_upgraded() {
    let bcrypt_vectors = &vectors()["bcrypt"];
    let password = bcrypt_vectors["password"].as_str().unwrap();
    let hash_2b = bcrypt_vectors["hash_2b_cost12"].as_str().unwrap();
    let hash_2a = bcrypt_vectors["hash_2a_cost10"].as_str().unwrap();
    let db = TestDb::new();
    // The original's tables, as its create statements made them.
    let mut pg = db.client();
    pg.batch_execute(
        "CREATE TABLE users (id SERIAL PRIMARY KEY, email VARCHAR(200) NOT NULL UNIQUE,
             name VARCHAR(200) NOT NULL, hashed_password VARCHAR, role VARCHAR(100),
             google_user BOOLEAN);
         CREATE TABLE password_reset (phrase VARCHAR(200) PRIMARY KEY,
             email VARCHAR(200) NOT NULL UNIQUE);",
    )
    .unwrap();
    pg.execute(
        "INSERT INTO users (email, name, hashed_password, role, google_user)
         VALUES ('old@example.org', 'old', $1, 'teacher', FALSE),
                ('newer@example.org', 'newer', $2, NULL, NULL)",
        &[&hash_2b, &hash_2a],
    )
    .unwrap();

    let server = Setup::new(Some(&db), json!({"bcrypt_cost": 11})).start(&[]);
    let c = server.client();
    let old = c.token(&c.login("old", password));
    assert_eq!(old.get("/roles").ok_json()["role"], "teacher");
    let newer = c.token(&c.login("newer", password));
    assert_eq!(
        newer.get("/roles").ok_json()["role"],
        "guest",
        "NULL acts as guest"
    );

    let stored = |name: &str| -> String {
        db.client()
            .query_one(
                "SELECT hashed_password FROM users WHERE name = $1",
                &[&name],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!(stored("old"), hash_2b, "cost 12 is not cheaper than 11");
    let upgraded = stored("newer");
    assert!(
        upgraded.starts_with("$2a$11$"),
        "re-hashed at cost 11, keeping the $2a$ form other systems read: {upgraded}"
    );
    assert!(bcrypt::verify(password, &upgraded).unwrap());
    c.login("newer", password);
}

#[test]
fn sessions_survive_a_restart() {
    let mut server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let r = c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
    let cookie = r.cookie_value().unwrap();
    server.restart();
    let c = server.client();
    assert_eq!(c.token(&token).get("/roles").ok_json()["role"], "guest");
    assert_eq!(
        c.cookie(&cookie).get("/me").ok_json()["user"]["name"],
        "bob"
    );
}

/// The one end-to-end expiry test (the rules themselves, sliding and the
/// absolute cap, are unit tests in src/auth/sessions.rs): tokens live 2 s
/// (sliding), and the absolute cap is far away, so that only idleness can
/// end the session.
#[test]
fn use_slides_the_expiry_and_idleness_ends_the_session() {
    let extra = json!({"token_ttl_seconds": 2, "session_max_seconds": 600});
    let server = Server::start(extra, &[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let me = c.token(&token);
    let start = Instant::now();
    // Used four times a second, the token outlives its 2 s ttl. (Expiry is
    // counted in whole seconds, so a use guarantees only one more second.)
    while start.elapsed() < Duration::from_millis(3500) {
        assert_eq!(me.get("/roles").status, 200, "at {:?}", start.elapsed());
        std::thread::sleep(Duration::from_millis(250));
    }
    // Left alone for longer than the ttl (plus a second of rounding), it dies.
    std::thread::sleep(Duration::from_millis(3100));
    let r = me.get("/roles");
    r.assert_error(401, "no_token");
    assert_eq!(r.json()["redirect_suggestions"], json!(["/login"]));
    me.get("/roles").assert_error(401, "no_token");
}

/// A state change carried by the cookie must come from our own pages
/// (docs/security.md: the original had no CSRF protection).
#[test]
fn cookie_state_changes_from_other_sites_are_403() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let c = server.client();
    c.register("bob", PASSWORD);
    let r = c.post_form(
        "/login",
        &[
            ("nickname", common::ADMIN_NAME),
            ("password", common::ADMIN_PASSWORD),
        ],
    );
    let admin_token = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    let cookie = r.cookie_value().unwrap();
    let own_origin = format!("https://127.0.0.1:{}", server.port);
    let evil = c.cookie(&cookie).header("Origin", "https://evil.example");
    let cross_site = c.cookie(&cookie).header("Sec-Fetch-Site", "cross-site");
    let own = c.cookie(&cookie).header("Origin", &own_origin);
    let role = [("user_name", "bob"), ("role", "teacher")];

    evil.post_form("/roles", &role)
        .assert_error(403, "cross_origin_request");
    cross_site
        .post_form("/roles", &role)
        .assert_error(403, "cross_origin_request");
    evil.post_form(
        "/password/change",
        &[("old_password", "x"), ("new_password", "yyyyyyyyy")],
    )
    .assert_error(403, "cross_origin_request");
    // Reading is fine, and so is a token sent explicitly.
    assert_eq!(evil.get("/roles").status, 200);
    let header = c
        .token(&admin_token)
        .header("Origin", "https://evil.example");
    assert_eq!(header.post_form("/roles", &role).status, 200);
    assert_eq!(own.post_form("/roles", &role).status, 200);
    assert_eq!(c.cookie(&cookie).post_form("/roles", &role).status, 200);

    // Logging out is a state change too: another site cannot end the session.
    evil.post("/logout")
        .assert_error(403, "cross_origin_request");
    assert_eq!(
        c.cookie(&cookie).get("/roles").status,
        200,
        "still signed in"
    );
    assert_eq!(own.post("/logout").status, 200);
    c.cookie(&cookie)
        .get("/roles")
        .assert_error(401, "no_token");
}
