//! Sign-in with Google / OpenID Connect against a local provider (see
//! `common::oidc`): our own RSA and P-256 keys, a JWKS over local HTTP, and
//! tokens signed by the test, good and forged.

use crate::common;

use common::oidc::{claims, hs256, jwks, JwksServer, Key, CLIENT_ID, ISSUER};
use common::smtp::closed_port;
use common::{unix_now, Client, Server, Setup, TestDb};
use serde_json::{json, Value};
use sse_platform::module_client::{ModuleClient, Options};
use std::time::Duration;

const PASSWORD: &str = "correct horse 1";
const T: Duration = Duration::from_secs(20);

fn start(oidc: Value) -> Server {
    Server::start(json!({ "oidc": oidc }), &[])
}

fn oidc_for(jwks: &JwksServer) -> Value {
    json!({"client_id": CLIENT_ID, "jwks_url": jwks.url()})
}

fn signin(c: &Client, token: &str) -> common::Resp {
    c.post_json("/google_signin", &json!({ "id_token": token }))
}

/// Signs in and returns the access token (panics unless 200).
fn signed_in(c: &Client, token: &str) -> String {
    let v = signin(c, token).ok_json();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["success"], true, "{v}");
    v["access_token"].as_str().expect("access_token").to_owned()
}

fn me(c: &Client, access: &str) -> Value {
    c.token(access).get("/me").ok_json()["user"].clone()
}

#[test]
fn first_sign_in_creates_a_google_guest_and_later_ones_find_it() {
    let (rsa, ec) = (Key::rsa("rsa-1"), Key::ec("ec-1"));
    let provider = JwksServer::start(&jwks(&[&rsa, &ec]));
    let server = start(oidc_for(&provider));
    let c = server.client();

    let r = signin(&c, &rsa.sign(&claims("gina@example.org", "Gina Example")));
    let set_cookie = r.set_cookie().expect("Set-Cookie").to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let access = r.ok_json()["access_token"].as_str().unwrap().to_owned();
    let user = me(&c, &access);
    assert_eq!(user["name"], "Gina Example");
    assert_eq!(user["email"], "gina@example.org");
    assert_eq!(user["role"], "guest");
    assert_eq!(user["google_user"], true);
    let cookie = r.cookie_value().unwrap();
    assert_eq!(c.cookie(&cookie).get("/roles").ok_json()["role"], "guest");

    let again = signed_in(&c, &rsa.sign(&claims("GINA@example.org", "Gina Renamed")));
    assert_ne!(again, access);
    assert_eq!(me(&c, &again)["id"], user["id"]);
    let es = signed_in(&c, &ec.sign(&claims("gina@example.org", "Gina Example")));
    assert_eq!(me(&c, &es)["id"], user["id"]);
    assert_eq!(provider.fetches(), 1, "keys are cached per Cache-Control");
    let log = server.settled_log();
    assert!(!log.contains(&access) && !log.contains(&es), "{log}");
}

#[test]
fn a_taken_name_is_made_unique() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    let server = start(oidc_for(&provider));
    let c = server.client();
    c.register("gina", PASSWORD);
    let access = signed_in(&c, &key.sign(&claims("gina.g@example.org", "gina")));
    assert_eq!(me(&c, &access)["name"], "gina 2");
    let access = signed_in(&c, &key.sign(&claims("gina.h@example.org", "gina")));
    assert_eq!(me(&c, &access)["name"], "gina 3");
}

#[test]
fn a_look_alike_name_is_made_unique_and_visible() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    let server = start(oidc_for(&provider));
    let c = server.client();
    c.register("gina", PASSWORD);
    let access = signed_in(&c, &key.sign(&claims("gina.g@example.org", "Gina")));
    assert_eq!(me(&c, &access)["name"], "Gina 2");
    // Invisible characters are dropped, and the rest still reads as gina.
    let hidden = "G\u{200b}INA\u{202e}";
    let access = signed_in(&c, &key.sign(&claims("gina.h@example.org", hidden)));
    assert_eq!(me(&c, &access)["name"], "GINA 3");
}

#[test]
fn the_email_of_a_password_account_is_email_duplication() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    let server = start(oidc_for(&provider));
    let c = server.client();
    c.register("bob", PASSWORD);
    signin(&c, &key.sign(&claims("Bob@example.org", "Bob"))).assert_error(401, "email_duplication");
    c.login("bob", PASSWORD);
}

#[test]
fn forged_expired_and_foreign_tokens_are_refused() {
    let (good, other) = (Key::rsa("rsa-1"), Key::rsa("rsa-2"));
    let ec = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&good, &ec]));
    let server = start(oidc_for(&provider));
    let db = server.db();
    let c = server.client();
    let email = "eve@example.org";
    let now = unix_now();
    let with = |changes: Value| {
        let mut claims = claims(email, "Eve");
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let header = |alg: &str, kid: &str| json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let base = with(json!({}));
    let good_token = good.sign(&base);
    let (head, rest) = good_token.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    let forged_claims = common::oidc::b64(
        with(json!({"email": "bob@example.org"}))
            .to_string()
            .as_bytes(),
    );

    let cases: Vec<(&str, &str, String)> = vec![
        (
            "expired",
            "expired",
            good.sign(&with(json!({"iat": now - 7200, "exp": now - 3600}))),
        ),
        (
            "wrong audience",
            "wrong audience",
            good.sign(&with(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong issuer",
            "wrong issuer",
            good.sign(&with(json!({"iss": "https://evil.example"}))),
        ),
        (
            "issued in the future",
            "issued in the future",
            good.sign(&with(json!({"iat": now + 3600}))),
        ),
        (
            "no exp",
            "claim 'exp'",
            good.sign(&with(json!({"exp": null}))),
        ),
        (
            "email not verified",
            "email not verified",
            good.sign(&with(json!({"email_verified": false}))),
        ),
        (
            "email_verified missing",
            "email not verified",
            good.sign(&with(json!({"email_verified": null}))),
        ),
        (
            "no email",
            "claim 'email'",
            good.sign(&with(json!({"email": null}))),
        ),
        (
            "signed by another key",
            "bad signature",
            other.sign_with_header(&header("RS256", "rsa-1"), &base),
        ),
        (
            "claims swapped after signing",
            "bad signature",
            format!(
                "{head}.{forged_claims}.{}",
                good_token.rsplit('.').next().unwrap()
            ),
        ),
        (
            "alg none",
            "malformed",
            format!(
                "{}.{payload}.",
                common::oidc::b64(header("none", "rsa-1").to_string().as_bytes())
            ),
        ),
        (
            "HS256, RSA public key as secret",
            "algorithm",
            hs256(&header("HS256", "rsa-1"), &base, &good.public_bytes()),
        ),
        (
            "HS256, JWK as secret",
            "algorithm",
            hs256(
                &header("HS256", "rsa-1"),
                &base,
                good.jwk().to_string().as_bytes(),
            ),
        ),
        (
            "HS256, EC point as secret",
            "algorithm",
            hs256(&header("HS256", "ec-1"), &base, &ec.public_bytes()),
        ),
        (
            "RS256 claimed for the EC key",
            "algorithm",
            good.sign_with_header(&header("RS256", "ec-1"), &base),
        ),
        (
            "ES256 claimed for the RSA key",
            "algorithm",
            ec.sign_with_header(&header("ES256", "rsa-1"), &base),
        ),
        (
            "no kid",
            "claim 'kid'",
            good.sign_with_header(&json!({"alg": "RS256"}), &base),
        ),
        ("not a JWT", "malformed", "abc".into()),
        ("three dots", "malformed", "a.b.c".into()),
    ];
    let refusals = |log: &str, reason: &str| {
        log.lines()
            .filter(|l| l.contains("refused: ") && l.contains(reason))
            .count()
    };
    for (what, reason, token) in &cases {
        let before = refusals(&server.log(), reason);
        let r = signin(&c, token);
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        r.assert_error(401, "google_authentication_failed");
        // Refused for the right reason, not by accident.
        server.wait_for_log(T, |l| refusals(l, reason) > before);
    }
    let users: i64 = db
        .client()
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0);
    assert_eq!(users, 0, "no forged token made an account");
    let log = server.settled_log();
    for (what, _, token) in &cases {
        if token.len() > 20 {
            assert!(!log.contains(token.as_str()), "{what}: token in the log");
        }
    }
    signed_in(&c, &good_token);
    c.post_json("/google_signin", &json!({}))
        .assert_error(400, "missing_query_parameter");
}

#[test]
fn an_unknown_kid_refetches_the_key_set_once() {
    let (a, b) = (Key::rsa("key-a"), Key::ec("key-b"));
    let provider = JwksServer::start(&jwks(&[&a]));
    let server = start(oidc_for(&provider));
    let c = server.client();
    signed_in(&c, &a.sign(&claims("gina@example.org", "Gina")));
    assert_eq!(provider.fetches(), 1);

    // The provider rotates: key-b appears while our cache is still fresh.
    provider.set(&jwks(&[&a, &b]));
    signed_in(&c, &b.sign(&claims("gina@example.org", "Gina")));
    assert_eq!(provider.fetches(), 2, "one refetch for the unknown kid");

    // A kid the provider does not have: refused, and no fetch storm.
    let stranger = Key::ec("key-c");
    for _ in 0..3 {
        signin(&c, &stranger.sign(&claims("gina@example.org", "Gina")))
            .assert_error(401, "google_authentication_failed");
    }
    assert_eq!(provider.fetches(), 2, "refetches are rate-limited");
    signed_in(&c, &b.sign(&claims("gina@example.org", "Gina")));
    assert_eq!(provider.fetches(), 2);
}

#[test]
fn the_cache_lasts_as_long_as_max_age_says() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    provider.set_cache_control("public, max-age=1");
    let server = start(oidc_for(&provider));
    let c = server.client();
    signed_in(&c, &key.sign(&claims("gina@example.org", "Gina")));
    signed_in(&c, &key.sign(&claims("gina@example.org", "Gina")));
    assert_eq!(provider.fetches(), 1);
    // The cache's age is the passing of time itself; nothing to poll for.
    std::thread::sleep(Duration::from_millis(1300));
    // Served from the stale set; the refresh runs in the background.
    signed_in(&c, &key.sign(&claims("gina@example.org", "Gina")));
    assert!(common::wait_until(Duration::from_secs(5), || provider
        .fetches()
        == 2));
}

#[test]
fn a_jwks_file_works_offline() {
    let key = Key::rsa("file-key");
    let db = TestDb::new();
    let oidc = json!({"client_id": CLIENT_ID, "issuer": "https://id.example.org",
                      "jwks_file": "jwks.json"});
    let setup = Setup::new(Some(&db), json!({ "oidc": oidc }));
    std::fs::write(setup.dir().join("jwks.json"), jwks(&[&key]).to_string()).unwrap();
    let server = setup.start(&[]);
    let c = server.client();
    let mut claims = claims("gina@example.org", "Gina");
    claims["iss"] = json!("https://id.example.org");
    signed_in(&c, &key.sign(&claims));
    claims["iss"] = json!(ISSUER);
    signin(&c, &key.sign(&claims)).assert_error(401, "google_authentication_failed");
    // Not Google: the login page shows no Google button.
    assert_eq!(
        c.get("/auth/config").ok_json()["google_client_id"],
        Value::Null
    );
}

#[test]
fn auth_config_names_the_google_client_id_only_when_configured() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    let server = start(oidc_for(&provider));
    let v = server.client().get("/auth/config").ok_json();
    assert_eq!(v["google_client_id"], CLIENT_ID);

    let server = start(Value::Null);
    let c = server.client();
    assert_eq!(
        c.get("/auth/config").ok_json()["google_client_id"],
        Value::Null
    );
    server.wait_for_log(T, |l| l.contains("oidc: off"));
    signin(&c, &key.sign(&claims("gina@example.org", "Gina")))
        .assert_error(503, "google_signin_not_configured");
}

#[test]
fn an_unreachable_key_set_is_503_not_401() {
    let key = Key::ec("ec-1");
    let url = format!("http://127.0.0.1:{}/jwks", closed_port());
    let server = start(json!({"client_id": CLIENT_ID, "jwks_url": url}));
    let c = server.client();
    let r = signin(&c, &key.sign(&claims("gina@example.org", "Gina")));
    r.assert_error(503, "google_signin_unavailable");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn google_accounts_have_no_password_and_confirm_deletion_with_a_fresh_token() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    let server = start(oidc_for(&provider));
    let c = server.client();
    let access = signed_in(&c, &key.sign(&claims("gina@example.org", "Gina")));
    let me_c = c.token(&access);

    me_c.post_form(
        "/password/change",
        &[("old_password", PASSWORD), ("new_password", "whatever 123")],
    )
    .assert_error(400, "google_account_has_no_password");
    c.post_form(
        "/login",
        &[("email", "gina@example.org"), ("password", PASSWORD)],
    )
    .assert_error(401, "google_account_has_no_password");
    me_c.delete_form("/delete_account", &[("password", PASSWORD)])
        .assert_error(400, "google_account_has_no_password");

    let someone_else = key.sign(&claims("mallory@example.org", "Mallory"));
    me_c.delete_form("/delete_account", &[("id_token", &someone_else)])
        .assert_error(401, "google_authentication_failed");
    let mut old = claims("gina@example.org", "Gina");
    old["iat"] = json!(unix_now() - 600);
    me_c.delete_form("/delete_account", &[("id_token", &key.sign(&old))])
        .assert_error(401, "google_reauthentication_required");

    let fresh = key.sign(&claims("gina@example.org", "Gina"));
    let r = me_c.delete_form("/delete_account", &[("id_token", &fresh)]);
    assert_eq!(r.status, 204, "{}", r.body);
    me_c.get("/roles").assert_error(401, "no_token");
}

#[test]
fn google_sign_in_tells_the_modules_user_login() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    let vectors = common::vectors();
    let db = TestDb::new();
    let config = json!({"oidc": oidc_for(&provider), "verify_keys": vectors["verify_keys_json"]});
    let server = Setup::new(Some(&db), config).start(&[]);
    let module = ModuleClient::connect(Options {
        url: format!("wss://127.0.0.1:{}/websocket", server.port),
        module: "ListServ".into(),
        signing_key: vectors["modules"]["ListServ"]["signing_key_file"]
            .as_str()
            .expect("seed")
            .into(),
        port: 8001,
        public_url: None,
        ca_pem: Some(server.cert_pem().as_bytes().to_vec()),
        timeout: T,
        revalidate_after: Options::REVALIDATE_AFTER,
    })
    .expect("module connects");
    let access = signed_in(
        &server.client(),
        &key.sign(&claims("gina@example.org", "Gina")),
    );
    let event =
        common::schemas::checked(module.events().recv_timeout(T).expect("user_login event"));
    assert_eq!(event["type"], "user_login");
    assert_eq!(event["username"], "Gina");
    assert_eq!(event["email"], "gina@example.org");
    assert_eq!(event["role"], "guest");
    assert_eq!(event["access_token"], access.as_str());
}

/// A sign-in from `127.0.0.<from>` on a connection of its own: the status
/// (0 without an answer within 10 s) and how long it took.
fn signin_from(server: &Server, from: u8, token: &str) -> (u16, Duration) {
    let started = std::time::Instant::now();
    let body = json!({ "id_token": token }).to_string();
    let request = format!(
        "POST /google_signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = server
        .raw_from(common::attack::loopback(from))
        .and_then(|mut conn| {
            conn.send(request.as_bytes())?;
            conn.read_response(Duration::from_secs(10))
        });
    (answer.map_or(0, |r| r.status), started.elapsed())
}

/// Item 11 of issue 8: with a cold cache every concurrent caller fetched
/// the keys itself, on a fast worker, for up to the 10 s timeout, so a slow
/// provider stopped the pages.
#[test]
fn a_slow_provider_is_fetched_once_and_holds_no_fast_worker() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    provider.set_delay(Duration::from_secs(5));
    let server = Server::start(
        json!({"oidc": oidc_for(&provider), "outbound_queue": 32}),
        &[],
    );
    let server = std::sync::Arc::new(server);
    let prober = common::attack::Prober::start(&server);
    let tokens: Vec<String> = (0..20)
        .map(|i| key.sign(&claims(&format!("slow{i}@example.org"), "Slow")))
        .collect();
    let results = {
        let server = server.clone();
        common::attack::in_parallel(20, move |i| signin_from(&server, 10 + i as u8, &tokens[i]))
    };
    let stats = prober.stop();
    eprintln!("sign-ins {results:?}; GET /login {stats:?}");
    for (status, _) in &results {
        assert_eq!(*status, 200, "{results:?}");
    }
    assert_eq!(provider.fetches(), 1, "one fetch for all of them");
    assert!(
        stats.success_rate() >= 0.9,
        "GET /login meanwhile: {stats:?}"
    );
}

#[test]
fn stale_keys_keep_signing_people_in_while_a_refresh_is_slow() {
    let key = Key::ec("ec-1");
    let provider = JwksServer::start(&jwks(&[&key]));
    // Stale at once: every sign-in finds a refresh due.
    provider.set_cache_control("max-age=0");
    let server = Server::start(
        json!({"oidc": oidc_for(&provider), "outbound_queue": 32}),
        &[],
    );
    let server = std::sync::Arc::new(server);
    let first = signin_from(&server, 10, &key.sign(&claims("stale@example.org", "S")));
    assert_eq!(first.0, 200);
    assert_eq!(provider.fetches(), 1);
    provider.set_delay(Duration::from_secs(5));
    let prober = common::attack::Prober::start(&server);
    let token = key.sign(&claims("stale@example.org", "S"));
    let results = {
        let server = server.clone();
        common::attack::in_parallel(20, move |i| signin_from(&server, 10 + i as u8, &token))
    };
    let stats = prober.stop();
    eprintln!("sign-ins {results:?}; GET /login {stats:?}");
    for (status, took) in &results {
        assert!(
            *status == 200 && *took < Duration::from_secs(3),
            "{results:?}"
        );
    }
    assert_eq!(provider.fetches(), 2, "one refresh, in the background");
    assert!(
        stats.success_rate() >= 0.9,
        "GET /login meanwhile: {stats:?}"
    );
    // The refresh ends, and the next stale sign-in starts the next one.
    server.wait_for_log(Duration::from_secs(10), |log| {
        log.matches("key set loaded").count() >= 2
    });
    provider.set_delay(Duration::ZERO);
    let again = signin_from(&server, 10, &key.sign(&claims("stale@example.org", "S")));
    assert_eq!(again.0, 200);
    assert!(common::wait_until(Duration::from_secs(5), || provider
        .fetches()
        == 3));
}
