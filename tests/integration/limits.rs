//! The failure limits in PostgreSQL (issue 12 item 4): counts survive a
//! restart, servers on one database share them, a good login writes
//! nothing, the table's window logic, and unlocking by an administrator.

use crate::common;

use common::{Client, Resp, Server, Setup, TestDb, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::json;
use sse_platform::db::limits;

const PASSWORD: &str = "limits password 1";
const WRONG: &str = "wrong password 1";

fn login(c: &Client, name: &str, password: &str) -> Resp {
    c.post_form("/login", &[("nickname", name), ("password", password)])
}

/// `n` wrong guesses for `name`, each answered as a failure, not a 429.
fn fail(c: &Client, name: &str, n: usize) {
    for i in 0..n {
        let r = login(c, name, WRONG);
        assert!(
            r.status == 401 || r.status == 409,
            "guess {i}: {} {}",
            r.status,
            r.body
        );
    }
}

#[track_caller]
fn assert_locked(c: &Client, name: &str) {
    let r = login(c, name, PASSWORD);
    r.assert_error(429, "too_many_attempts");
    assert!(r.retry_after() >= 1, "{r:?}");
}

#[test]
fn failures_are_still_counted_after_a_restart() {
    let mut server = Server::start(json!({"login_max_failures": 3}), &[]);
    server.client().register("alice", PASSWORD);
    fail(&server.client(), "alice", 3);
    assert_locked(&server.client(), "alice");
    server.restart();
    assert_locked(&server.client(), "alice");
}

#[test]
fn two_servers_on_one_database_share_the_count() {
    let db = TestDb::new();
    let config = json!({"login_max_failures": 3});
    let a = Setup::new(Some(&db), config.clone()).start(&[]);
    let b = Setup::new(Some(&db), config).start(&[]);
    a.client().register("alice", PASSWORD);
    fail(&a.client(), "alice", 2);
    fail(&b.client(), "alice", 1);
    assert_locked(&a.client(), "alice");
    assert_locked(&b.client(), "alice");
}

/// Records every statement that writes `attempt_limits` (a statement
/// trigger fires even when it changes no row).
fn watch_writes(db: &TestDb) {
    db.client()
        .batch_execute(
            "CREATE TABLE limit_writes (op TEXT NOT NULL);
             CREATE FUNCTION note_limit_write() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN INSERT INTO limit_writes VALUES (TG_OP); RETURN NULL; END $$;
             CREATE TRIGGER note_limit_writes
                 AFTER INSERT OR UPDATE OR DELETE ON attempt_limits
                 FOR EACH STATEMENT EXECUTE FUNCTION note_limit_write();",
        )
        .expect("trigger");
}

fn writes(db: &TestDb) -> Vec<String> {
    let rows = db
        .client()
        .query("SELECT op FROM limit_writes", &[])
        .expect("limit_writes");
    rows.iter().map(|r| r.get(0)).collect()
}

#[test]
fn a_successful_login_writes_nothing_to_the_limits_table() {
    // The janitor's prune would write; it waits a day here.
    let server = Server::start(json!({"session_sweep_seconds": 86_400}), &[]);
    let c = server.client();
    c.register("alice", PASSWORD);
    // Counts that the good login's check reads: its address's and the
    // account's, none of its own pair.
    fail(&c, "nobody", 1);
    watch_writes(server.db());
    c.login("alice", PASSWORD);
    c.login("alice", PASSWORD);
    assert_eq!(writes(server.db()), Vec::<String>::new());
    // A failure is one upsert (its statement fires the INSERT and the
    // UPDATE triggers), and the next good login forgets the pair.
    fail(&c, "alice", 1);
    let upsert = writes(server.db());
    assert!(upsert.contains(&"INSERT".to_owned()), "{upsert:?}");
    assert!(upsert.iter().all(|op| op != "DELETE"), "{upsert:?}");
    c.login("alice", PASSWORD);
    let mut after = upsert.clone();
    after.push("DELETE".to_owned());
    assert_eq!(writes(server.db()), after);
    let pairs: i64 = server
        .db()
        .client()
        .query_one(
            "SELECT count(*) FROM attempt_limits WHERE name = 'login_pair' AND key LIKE '%|name:alice'",
            &[],
        )
        .expect("count")
        .get(0);
    assert_eq!(pairs, 0);
}

#[test]
fn a_typed_name_of_any_length_is_counted_not_refused() {
    let server = Server::start(json!({"login_max_failures": 2}), &[]);
    let c = server.client();
    let long = "n".repeat(20_000);
    fail(&c, &long, 2);
    login(&c, &long, WRONG).assert_error(429, "too_many_attempts");
}

/// The table's windows, driven with chosen times (no waiting): a window
/// counts up to its end, an ended one starts again, an attempt counts only
/// while the limit is not used up, and the prune takes ended windows only.
#[test]
fn windows_count_until_they_end_and_then_start_again() {
    let server = Server::start(json!({}), &[]);
    let mut pg = server.db().client();
    let (names, keys) = (["t"], ["k"]);
    let row = |pg: &mut postgres::Client| {
        let found = limits::find(pg, &names, &keys).expect("find");
        found.first().map(|r| (r.count, r.ends_at))
    };
    limits::count(&mut pg, &names, &keys, &[1_000], 0).expect("count");
    limits::count(&mut pg, &names, &keys, &[1_500], 500).expect("count");
    assert_eq!(row(&mut pg), Some((2, 1_000)), "the first event's window");
    limits::count(&mut pg, &names, &keys, &[2_000], 1_000).expect("count");
    assert_eq!(row(&mut pg), Some((1, 2_000)), "a new window at its end");

    assert_eq!(
        limits::attempt(&mut pg, "t", "k", 2_100, 1_100, 2).ok(),
        Some(None)
    );
    assert_eq!(
        limits::attempt(&mut pg, "t", "k", 2_200, 1_200, 2).ok(),
        Some(Some(2_000)),
        "used up: refused with the window's end"
    );
    assert_eq!(row(&mut pg), Some((2, 2_000)), "a refusal counts nothing");
    assert_eq!(
        limits::attempt(&mut pg, "t", "k", 3_000, 2_000, 2).ok(),
        Some(None)
    );
    assert_eq!(row(&mut pg), Some((1, 3_000)));

    assert_eq!(limits::prune(&mut pg, 2_999).ok(), Some(0));
    assert_eq!(limits::prune(&mut pg, 3_000).ok(), Some(1));
    assert_eq!(row(&mut pg), None);
}

fn admin_client(server: &Server) -> Client {
    let c = server.client();
    let token = c.login(ADMIN_NAME, ADMIN_PASSWORD);
    c.token(&token)
}

fn locked_of(admin: &Client, name: &str) -> bool {
    let list = admin.get("/users").ok_json();
    let users = list["user_list"].as_array().expect("user_list").clone();
    let user = users.iter().find(|u| u["name"] == name).expect("listed");
    user["locked"].as_bool().expect("locked is a bool")
}

fn user_id(admin: &Client, name: &str) -> String {
    let list = admin.get("/users").ok_json();
    let users = list["user_list"].as_array().expect("user_list").clone();
    let user = users.iter().find(|u| u["name"] == name).expect("listed");
    user["id"].to_string()
}

#[test]
fn an_admin_unlocks_a_locked_account_which_then_logs_in() {
    let server = Server::start(
        json!({"login_max_failures": 2, "login_max_failures_per_account": 3}),
        &["--create_admin"],
    );
    let admin = admin_client(&server);
    let c = server.client();
    c.register("alice", PASSWORD);
    assert!(!locked_of(&admin, "alice"));
    // Locked from everywhere: by email, nickname and account, over two
    // addresses' pairs (the test client is one address; the email is a
    // second key of the same account).
    fail(&c, "alice", 2);
    let by_email = [("email", "ALICE@example.org"), ("password", WRONG)];
    assert_eq!(c.post_form("/login", &by_email).status, 429);
    assert_locked(&c, "alice");
    assert!(locked_of(&admin, "alice"));

    let id = user_id(&admin, "alice");
    let r = admin.post_form("/users/unlock", &[("user_id", &id)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!locked_of(&admin, "alice"));
    c.login("alice", PASSWORD);
}

#[test]
fn unlock_is_for_admins_and_existing_users() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let admin = admin_client(&server);
    let c = server.client();
    let token = c.register("bob", PASSWORD);
    let id = user_id(&admin, "bob");
    let r = c
        .token(&token)
        .post_form("/users/unlock", &[("user_id", &id)]);
    r.assert_error(403, "user_not_admin");
    c.post_form("/users/unlock", &[("user_id", &id)])
        .assert_error(401, "no_token");
    admin
        .post_form("/users/unlock", &[("user_id", "999999")])
        .assert_error(404, "user_not_found");
    for bad in ["", "x", "-1", "1e3", "99999999999999999999"] {
        let r = admin.post_form("/users/unlock", &[("user_id", bad)]);
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
}

#[test]
fn the_janitor_deletes_ended_windows() {
    let config = json!({"login_failure_window_seconds": 3, "session_sweep_seconds": 1});
    let server = Server::start(config, &[]);
    fail(&server.client(), "nobody", 1);
    let rows = || -> i64 {
        let mut pg = server.db().client();
        let row = pg.query_one("SELECT count(*) FROM attempt_limits", &[]);
        row.expect("count").get(0)
    };
    assert!(rows() > 0, "the failure was counted");
    let gone = common::wait_until(std::time::Duration::from_secs(20), || rows() == 0);
    assert!(gone, "rows left: {}", rows());
}

/// An attempt is counted in the statement that checks it: registrations
/// racing on two servers from one address get exactly the limit's number
/// through, however they interleave.
#[test]
fn racing_attempts_on_two_servers_pass_exactly_the_limit() {
    let db = TestDb::new();
    let config = json!({"register_max_per_address": 3});
    let a = Setup::new(Some(&db), config.clone()).start(&[]);
    let b = Setup::new(Some(&db), config).start(&[]);
    let clients: Vec<Client> = (0..10)
        .map(|i| if i % 2 == 0 { a.client() } else { b.client() })
        .collect();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let racers: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                s.spawn(move || {
                    let name = format!("racer{i}");
                    let email = format!("{name}@example.org");
                    c.register_form(&email, &name, PASSWORD).status
                })
            })
            .collect();
        racers
            .into_iter()
            .map(|r| r.join().expect("racer"))
            .collect()
    });
    let passed = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((passed, refused), (3, 7), "{statuses:?}");
}
