//! Roles, the user list, running modules, pages, `--dev` and
//! `--create_admin` (docs/protocol.md §1).

use crate::common;

use common::{Server, Setup, TestDb, ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "user password 1";

/// A server whose database holds the configured admin.
fn start_with_admin() -> Server {
    Server::start(json!({}), &["--create_admin"])
}

fn admin_count(db: &TestDb) -> i64 {
    db.client()
        .query_one("SELECT count(*) FROM users WHERE role = 'admin'", &[])
        .unwrap()
        .get(0)
}

#[test]
fn get_roles_answers_the_callers_role() {
    let server = start_with_admin();
    let c = server.client();
    let admin = c.login(ADMIN_NAME, ADMIN_PASSWORD);
    let user = c.register("bob", PASSWORD);
    assert_eq!(
        c.token(&admin).get("/roles").ok_json(),
        json!({"type": "permission_response", "role": "admin"})
    );
    assert_eq!(c.token(&user).get("/roles").ok_json()["role"], "guest");
    c.get("/roles").assert_error(401, "no_token");
}

#[test]
fn post_roles_sets_a_role_for_admins_only() {
    let server = start_with_admin();
    let db = server.db();
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    let user = c.token(&c.register("bob", PASSWORD));

    let r = admin.post_form("/roles", &[("user_name", "bob"), ("role", "teacher")]);
    assert_eq!(r.ok_json(), json!({"status": 200, "success": true}));
    let role: Option<String> = db
        .client()
        .query_one("SELECT role FROM users WHERE name = 'bob'", &[])
        .unwrap()
        .get(0);
    assert_eq!(role.as_deref(), Some("teacher"));

    user.post_form("/roles", &[("user_name", "bob"), ("role", "admin")])
        .assert_error(401, "user_not_admin");
    c.post_form("/roles", &[("user_name", "bob"), ("role", "admin")])
        .assert_error(401, "no_token");
    admin
        .post_form("/roles", &[("user_name", "bob"), ("role", "root")])
        .assert_error(400, "invalid_role");
    admin
        .post_form("/roles", &[("user_name", "nobody"), ("role", "parent")])
        .assert_error(404, "user_not_found");
    admin
        .post_form("/roles", &[("user_name", "bob")])
        .assert_error(400, "missing_query_parameter");
    assert_eq!(user.get("/roles").ok_json()["role"], "teacher");
}

#[test]
fn role_change_applies_to_the_users_live_session_at_once() {
    let mut server = start_with_admin();
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    let token = c.register("bob", PASSWORD);
    let bob = c.token(&token);
    assert_eq!(bob.get("/roles").ok_json()["role"], "guest");

    admin.post_form("/roles", &[("user_name", "bob"), ("role", "admin")]);
    assert_eq!(bob.get("/roles").ok_json()["role"], "admin");
    assert_eq!(bob.get("/users").status, 200, "now an admin");

    admin.post_form("/roles", &[("user_name", "bob"), ("role", "parent")]);
    assert_eq!(bob.get("/roles").ok_json()["role"], "parent");
    bob.get("/users").assert_error(401, "user_not_admin");

    // The session, read back from the database after a restart, agrees.
    server.restart();
    let bob = server.client().token(&token);
    assert_eq!(bob.get("/roles").ok_json()["role"], "parent");
}

#[test]
fn get_users_lists_accounts_for_admins_only() {
    let server = start_with_admin();
    let c = server.client();
    let admin = c.token(&c.login(ADMIN_NAME, ADMIN_PASSWORD));
    let user = c.token(&c.register("bob", PASSWORD));

    let v = admin.get("/users").ok_json();
    assert_eq!(v["status"], 200);
    assert_eq!(v["success"], true);
    let list = v["user_list"].as_array().expect("user_list");
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[0]["name"], ADMIN_NAME);
    assert_eq!(list[0]["email"], ADMIN_EMAIL);
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[1]["name"], "bob");
    assert_eq!(list[1]["role"], "guest");
    for u in list {
        assert!(u["id"].is_i64(), "{u}");
        assert!(u.get("hashed_password").is_none(), "{u}");
    }

    user.get("/users").assert_error(401, "user_not_admin");
    c.get("/users").assert_error(401, "no_token");
}

#[test]
fn execution_running_lists_the_platform_with_its_port() {
    let server = start_with_admin();
    let c = server.client();
    let user = c.token(&c.register("bob", PASSWORD));
    assert_eq!(
        user.get("/execution/running").ok_json(),
        json!({"running_modules": {"platform": {"port": server.port}}})
    );
    c.get("/execution/running").assert_error(401, "no_token");
}

#[test]
fn root_redirects_to_main_and_main_to_login_without_a_session() {
    let server = start_with_admin();
    let c = server.client();
    let r = c.get("/");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/main"));
    let r = c.get("/main");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/login"));
    let r = c.token("not a token").get("/main");
    assert_eq!((r.status, r.header("location")), (302, Some("/login")));

    let r = c.get("/password/change");
    assert_eq!((r.status, r.header("location")), (302, Some("/login")));
    let token = c.register("bob", PASSWORD);
    assert_eq!(c.token(&token).get("/password/change").status, 200);
    assert_eq!(c.get("/forgot_password").status, 200);

    let login = c.get("/login");
    assert_eq!(login.status, 200);
    assert!(login
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(c.get("/register").status, 200);
}

#[test]
fn main_shows_the_admin_page_to_admins_and_the_user_page_to_others() {
    let server = start_with_admin();
    let c = server.client();
    let admin = c.with_jar();
    admin.post_form(
        "/login",
        &[("nickname", ADMIN_NAME), ("password", ADMIN_PASSWORD)],
    );
    let r = admin.get("/main");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-page=\"admin\""), "{}", r.body);

    let token = c.register("bob", PASSWORD);
    let r = c.token(&token).get("/main");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-page=\"user\""), "{}", r.body);
    assert!(!r.body.contains("data-page=\"admin\""));
}

#[test]
fn dev_mode_needs_no_token() {
    let server = Server::start(json!({}), &["--dev"]);
    let c = server.client();
    c.register("bob", PASSWORD);
    let v = c.get("/users").ok_json();
    assert_eq!(v["user_list"][0]["name"], "bob");
    assert_eq!(c.get("/roles").ok_json()["role"], "admin");
    assert_eq!(c.get("/execution/running").status, 200);
    assert!(server.log().contains("DEVELOPER MODE"), "{}", server.log());
}

#[test]
fn create_admin_is_idempotent_across_restarts() {
    let mut server = Server::start(json!({}), &["--create_admin"]);
    let db = server.db().clone();
    assert_eq!(admin_count(&db), 1);
    let token = server.client().login(ADMIN_NAME, ADMIN_PASSWORD);
    server.restart();
    server.restart();
    assert_eq!(admin_count(&db), 1);
    let total: i64 = db
        .client()
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0);
    assert_eq!(total, 1);
    let c = server.client();
    assert_eq!(c.token(&token).get("/roles").ok_json()["role"], "admin");
    c.login(ADMIN_NAME, ADMIN_PASSWORD);
}

#[test]
fn create_admin_without_admin_keys_exits_2_naming_the_key() {
    let db = TestDb::new();
    let setup = Setup::new(Some(&db), json!({"platform_admin_email": null}))
        .startup_timeout(Duration::from_secs(20));
    let exited = match setup.try_start(&["--create_admin"]) {
        Ok(_) => panic!("started without platform_admin_email"),
        Err(exited) => exited,
    };
    exited.assert_one_error_naming("platform_admin_email");
    assert_eq!(admin_count(&db), 0);
}
