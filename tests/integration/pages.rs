//! What the pages' responses promise: self-contained CSP (Google's origin only
//! when Google sign-in is configured) and redirects that explain themselves.

use crate::common;

use common::oidc::{jwks, JwksServer, Key, CLIENT_ID};
use common::{Server, Setup, TestDb};
use serde_json::json;

fn csp(server: &Server, path: &str, token: Option<&str>) -> String {
    let c = server.client();
    let c = match token {
        Some(t) => c.token(t),
        None => c,
    };
    let r = c.get(path);
    assert_eq!(r.status, 200, "{path}");
    r.header("content-security-policy").expect("CSP").to_owned()
}

#[test]
fn pages_allow_googles_origin_only_when_google_sign_in_is_configured() {
    let db = TestDb::new();
    let plain = Setup::new(Some(&db), json!({})).start(&["--create_admin"]);
    let token = plain
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    for (path, t) in [("/login", None), ("/main", Some(token.as_str()))] {
        let policy = csp(&plain, path, t);
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        assert!(!policy.contains("google"), "{path}: {policy}");
    }
    drop(plain);

    let provider = JwksServer::start(&jwks(&[&Key::ec("ec-1")]));
    let oidc = json!({"client_id": CLIENT_ID, "jwks_url": provider.url()});
    let google = Setup::new(Some(&db), json!({ "oidc": oidc })).start(&[]);
    let token = google
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    for (path, t) in [("/login", None), ("/main", Some(token.as_str()))] {
        let policy = csp(&google, path, t);
        assert!(
            policy.contains("script-src 'self' https://accounts.google.com/gsi/client"),
            "{path}: {policy}"
        );
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
    }
    // Pages that never show the button stay self-only.
    assert!(!csp(&google, "/forgot_password", None).contains("google"));
}

#[test]
fn a_page_visited_with_an_ended_session_says_so() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let token = c.register("ivan", "ivan-password");
    c.token(&token).post("/logout");
    for path in ["/main", "/password/change"] {
        let r = c.token(&token).get(path);
        assert_eq!(
            (r.status, r.header("location")),
            (302, Some("/login?expired=1")),
            "{path}"
        );
        let r = c.get(path);
        assert_eq!(
            (r.status, r.header("location")),
            (302, Some("/login")),
            "{path}: no session at all"
        );
    }
}

#[test]
fn module_links_use_the_configured_scheme() {
    let server = Server::start(json!({"module_link_scheme": "http"}), &[]);
    let db = server.db();
    let v = server.client().get("/auth/config").ok_json();
    assert_eq!(v["module_link_scheme"], "http");
    let dflt = Setup::new(Some(db), json!({})).start(&[]);
    assert!(dflt.client().get("/auth/config").ok_json()["module_link_scheme"].is_null());
    let bad = common::Setup::new(Some(db), json!({"module_link_scheme": "gopher"}));
    let exited = bad.try_start(&[]).err().expect("refuses to start");
    assert!(
        exited.stderr.contains("module_link_scheme"),
        "{}",
        exited.stderr
    );
}
