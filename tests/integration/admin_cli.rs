//! The admin command line (`sse-platform user ...`, `sessions ...`,
//! `check-config`) against the real database, and a running server
//! hearing each change at once (`db::notify`, the `db-listen` thread).

use crate::common;

use common::hub::*;
use common::original::*;
use common::{wait_until, PgCluster, Server, Setup, TestDb, BIN};
use serde_json::{json, Value};
use sse_platform::module_client::Connection;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a running server may take to apply a change the CLI made.
const AT_ONCE: Duration = Duration::from_secs(2);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Exit 0 and nothing on stderr; returns stdout.
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr);
        &self.stdout
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// A non-zero exit with one line on stderr holding `needle`.
    #[track_caller]
    fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, Some(code), "{} / {}", self.stdout, self.stderr);
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {}", self.stderr);
        assert!(lines[0].starts_with("sse-platform: "), "{}", lines[0]);
        assert!(lines[0].contains(needle), "'{needle}' not in {}", lines[0]);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
    }
}

/// Runs `sse-platform <args> -c <dir>/config.json` with `stdin` as input.
fn cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> Run {
    let config = dir.join("config.json");
    let mut child = Command::new(BIN)
        .args(args)
        .arg("-c")
        .arg(&config)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sse-platform");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("sse-platform {args:?} still running after 30 s"))
        .expect("wait");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn on(server: &Server, args: &[&str]) -> Run {
    cli(server.dir(), args, "")
}

/// The next frame of `type` within [`AT_ONCE`]; other frames are skipped.
fn hears(conn: &mut Connection, kind: &str) -> Value {
    let deadline = Instant::now() + AT_ONCE;
    while Instant::now() < deadline {
        if let Ok(Some(frame)) = conn.recv(Duration::from_millis(50)) {
            let v = parse(&frame);
            if v["type"] == kind {
                return v;
            }
        }
    }
    panic!("no {kind} within {AT_ONCE:?}");
}

#[test]
fn user_commands_print_text_and_json_and_exit_0() {
    let server = hub(json!({"public_url": "https://lab.example"}));
    let dir = server.dir();
    let added = cli(
        dir,
        &[
            "user",
            "add",
            "--email",
            "kim@example.org",
            "--name",
            "kim",
            "--role",
            "teacher",
            "--password-stdin",
            "--json",
        ],
        "kim-password-1\n",
    )
    .json();
    assert_eq!(
        (added["name"].clone(), added["role"].clone()),
        (json!("kim"), json!("teacher"))
    );
    let text = cli(
        dir,
        &[
            "user",
            "add",
            "--email",
            "lea@example.org",
            "--name",
            "lea",
            "--password-stdin",
        ],
        "lea-password-1\n",
    );
    assert!(
        text.ok().starts_with("created user 'lea'"),
        "{}",
        text.stdout
    );
    // The password read from stdin is the account's.
    let token = server.client().login("kim", "kim-password-1");

    let list = on(&server, &["user", "list", "--json"]).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["admin", "kim", "lea"]);
    let text = on(&server, &["user", "list"]);
    assert!(
        text.ok()
            .lines()
            .any(|l| l.contains("kim") && l.contains("teacher")),
        "{}",
        text.stdout
    );

    let shown = on(&server, &["user", "show", "kim", "--json"]).json();
    assert_eq!(
        (shown["email"].clone(), shown["sessions"].clone()),
        (json!("kim@example.org"), json!(1))
    );
    assert!(on(&server, &["user", "show", "kim"])
        .ok()
        .contains("role:     teacher"));

    let sessions = on(&server, &["sessions", "list", "--user", "kim", "--json"]).json();
    assert_eq!(
        sessions[0]["token_sha256"],
        sha256_hex(&token),
        "{sessions}"
    );
    let all = on(&server, &["sessions", "list"]);
    assert!(
        all.ok().contains(&sha256_hex(&token)[..16]),
        "{}",
        all.stdout
    );

    let link = on(&server, &["user", "reset-link", "lea", "--json"]).json();
    let link = link["link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with("https://lab.example/forgot_password?phrase="),
        "{link}"
    );
    let phrase = link.split("phrase=").nth(1).unwrap();
    let r = server.client().post_json(
        "/forgot_password",
        &json!({"phrase": phrase, "new_password": "lea-password-2"}),
    );
    assert_eq!(r.status, 200, "the link works once: {}", r.body);
    server.client().login("lea", "lea-password-2");
    let again = server.client().post_json(
        "/forgot_password",
        &json!({"phrase": phrase, "new_password": "lea-password-3"}),
    );
    assert_eq!(again.status, 400, "{}", again.body);
    let text = on(&server, &["user", "reset-link", "lea"]);
    assert!(text
        .ok()
        .starts_with("https://lab.example/forgot_password?phrase="));

    let ended = on(&server, &["sessions", "end", "--user", "lea", "--json"]).json();
    assert_eq!(ended["sessions_ended"], 1, "{ended}");
    let deleted = on(&server, &["user", "delete", "lea", "--json"]).json();
    assert_eq!(
        (
            deleted["deleted"]["name"].clone(),
            deleted["sessions_ended"].clone()
        ),
        (json!("lea"), json!(0))
    );
    assert!(on(&server, &["user", "delete", "kim"])
        .ok()
        .contains("1 sessions ended"));
    assert_eq!(
        on(&server, &["user", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn every_error_is_one_line_and_a_non_zero_exit() {
    let server = hub(json!({}));
    let dir = server.dir();
    on(&server, &["user", "show", "nobody"]).fails(1, "no user named 'nobody'");
    on(&server, &["user", "delete", "nobody"]).fails(1, "no user named 'nobody'");
    on(&server, &["user", "set-role", "admin", "boss"]).fails(2, "bad role 'boss'");
    on(&server, &["sessions", "end", "--user", "nobody"]).fails(1, "no user named 'nobody'");
    let add = [
        "user",
        "add",
        "--email",
        "admin@example.org",
        "--name",
        "kim",
        "--password-stdin",
    ];
    cli(dir, &add, "password-long-enough\n").fails(1, "email_taken");
    let add = [
        "user",
        "add",
        "--email",
        "kim@example.org",
        "--name",
        "kim",
        "--password-stdin",
    ];
    cli(dir, &add, "short\n").fails(2, "password_too_short");
    cli(dir, &["user", "add", "--name", "kim"], "").fails(2, "--email");
    on(&server, &["user", "frobnicate"]).fails(2, "unknown user command");
    on(&server, &["user", "reset-link", "admin", "surprise"]).fails(2, "unexpected argument");

    std::fs::write(dir.join("config.json"), "{").unwrap();
    on(&server, &["user", "list"]).fails(2, "config.json");

    let down = Setup::new(None, json!({}));
    cli(down.dir(), &["user", "list"], "").fails(1, "database unavailable");
}

#[test]
fn help_for_each_command() {
    let dir = common::TempDir::new("cli");
    for (args, needle) in [
        (vec!["user", "--help"], "user set-role <name> <role>"),
        (vec!["user", "add", "-h"], "--password-stdin"),
        (vec!["sessions", "--help"], "sessions end --user <name>"),
        (vec!["check-config", "--help"], "check-config -c"),
        (vec!["keygen", "--help"], "--name <module>"),
        (vec!["--help"], "sessions <list|end>"),
    ] {
        let exited = common::run_to_exit(dir.path(), &args, Duration::from_secs(20));
        assert!(exited.status.success(), "{args:?}: {}", exited.stderr);
        assert!(
            exited.stdout.contains(needle),
            "{args:?}: {}",
            exited.stdout
        );
    }
}

#[test]
fn a_role_set_by_the_cli_is_seen_at_once_by_requests_and_modules() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let web = server.client();
    let token = web.register("kim", "kim-password-1");
    assert_eq!(web.token(&token).get("/roles").ok_json()["role"], "guest");
    on(&server, &["user", "set-role", "kim", "teacher"]).ok();
    // The CLI has committed; the server hears it a moment later.
    let exited = Instant::now();
    let mut asked = 0;
    let mut role = || {
        asked += 1;
        web.token(&token).get("/roles").ok_json()["role"].clone()
    };
    assert!(
        wait_until(AT_ONCE, || role() == "teacher"),
        "still the old role"
    );
    let seen = exited.elapsed();
    let change = hears(&mut v2, "user_role_change");
    assert_eq!(
        (change["username"].clone(), change["role"].clone()),
        (json!("kim"), json!("teacher"))
    );
    eprintln!("role change seen {seen:?} after the CLI exited, by request {asked}");
}

#[test]
fn sessions_ended_by_the_cli_are_refused_at_once_and_modules_hear_it() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let web = server.client();
    let a = web.register("kim", "kim-password-1");
    let b = web.login("kim", "kim-password-1");
    let id = web.token(&a).get("/me").ok_json()["user"]["id"].clone();
    let ended = on(&server, &["sessions", "end", "--user", "kim"]);
    assert_eq!(ended.ok(), "ended 2 sessions of 'kim'");
    let exited = Instant::now();
    let mut asked = 0;
    let refused = || {
        asked += 1;
        web.token(&b).get("/roles").status == 401
    };
    assert!(wait_until(AT_ONCE, refused), "still served");
    let seen = exited.elapsed();
    let mut heard = Vec::new();
    for _ in 0..2 {
        let e = hears(&mut v2, "session_ended");
        assert_eq!(e["reason"], "revoked", "{e}");
        heard.push(e["token_sha256"].as_str().unwrap().to_owned());
    }
    heard.sort();
    let mut want = vec![sha256_hex(&a), sha256_hex(&b)];
    want.sort();
    assert_eq!(heard, want);
    assert_eq!(hears(&mut v2, "user_sessions_revoked")["userid"], id);
    web.token(&a).get("/roles").assert_error(401, "no_token");
    eprintln!("ended sessions refused {seen:?} after the CLI exited, by request {asked}");
}

#[test]
fn a_user_deleted_by_the_cli_reaches_modules_as_the_web_deletion_does() {
    let server = hub(json!({}));
    let mut v2 = start_v2(&server, "ListServ", 8001);
    let mut original = OriginalClient::start(&server, "SocialServ", 8002);
    let web = server.client();
    let token = web.register("kim", "kim-password-1");
    let id = web.token(&token).get("/me").ok_json()["user"]["id"].clone();
    on(&server, &["user", "delete", "kim"]).ok();
    let e = hears(&mut v2, "session_ended");
    assert_eq!(
        (e["reason"].clone(), e["token_sha256"].clone()),
        (json!("account_deleted"), json!(sha256_hex(&token)))
    );
    assert_eq!(hears(&mut v2, "user_delete")["userid"], id);
    assert!(
        wait_until(AT_ONCE, || {
            original.pump(Duration::from_millis(50));
            original
                .seen
                .iter()
                .any(|v| v["type"] == "user_delete" && v["userid"] == id)
        }),
        "the original module heard user_delete: {:?}",
        original.types()
    );
    original.assert_alive();
    web.token(&token)
        .get("/roles")
        .assert_error(401, "no_token");
}

#[test]
fn losing_the_listening_connection_drops_the_session_cache() {
    let cluster = PgCluster::init();
    let db = TestDb::on(&cluster.conninfo());
    let server = Setup::new(Some(&db), json!({})).start(&["--create_admin"]);
    let web = server.client();
    let token = web.register("kim", "kim-password-1");
    cluster.stop();
    server.wait_for_log(Duration::from_secs(10), |log| {
        log.contains("db-listen: connection lost")
    });
    cluster.start();
    server.wait_for_log(Duration::from_secs(20), |log| {
        log.contains("sessions are cached again")
    });
    // Read back from the database, the session is still good.
    assert!(wait_until(Duration::from_secs(10), || web
        .token(&token)
        .get("/roles")
        .status
        == 200));
}

/// While the listening connection is down, a session deleted in the
/// database (whose announcement nobody hears) is refused at once: nothing
/// is served from the cache until the process listens again. Reconnection
/// is held off by revoking CONNECT, which leaves the pool's open
/// connections working.
#[test]
fn while_not_listening_an_ended_session_is_refused_at_once() {
    let db = TestDb::new();
    let server = Setup::new(Some(&db), json!({"pg_pool_idle_seconds": 600})).start(&[]);
    let web = server.client();
    let gone = web.register("kim", "kim-password-1");
    let kept = web.register("lou", "lou-password-1");
    for token in [&gone, &kept] {
        web.token(token).get("/roles").ok_json(); // both cached now
    }
    let mut sql = db.client();
    let revoke = format!(
        "REVOKE CONNECT ON DATABASE {} FROM PUBLIC, CURRENT_USER",
        db.name()
    );
    sql.batch_execute(&revoke).unwrap();
    let listeners = sql
        .query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
             WHERE application_name = 'sse-platform-listen' AND datname = current_database()",
            &[],
        )
        .unwrap();
    assert_eq!(listeners.len(), 1, "one listening connection");
    server.wait_for_log(Duration::from_secs(10), |log| {
        log.contains("db-listen: connection lost")
    });
    let deleted = sql
        .execute(
            "DELETE FROM sessions WHERE token_hash = sha256($1::text::bytea)",
            &[&gone],
        )
        .unwrap();
    assert_eq!(deleted, 1);
    web.token(&gone).get("/roles").assert_error(401, "no_token");
    web.token(&kept).get("/roles").ok_json();
    let grant = format!(
        "GRANT CONNECT ON DATABASE {} TO PUBLIC, CURRENT_USER",
        db.name()
    );
    sql.batch_execute(&grant).unwrap();
    server.wait_for_log(Duration::from_secs(20), |log| {
        log.contains("sessions are cached again")
    });
    web.token(&gone).get("/roles").assert_error(401, "no_token");
    web.token(&kept).get("/roles").ok_json();
}

#[test]
fn check_config_names_each_problem() {
    let db = TestDb::new();
    let good = Setup::new(Some(&db), json!({}));
    assert_eq!(cli(good.dir(), &["check-config"], "").ok(), "ok");
    let json = cli(good.dir(), &["check-config", "--json"], "").json();
    assert_eq!(json, json!({"ok": true}));

    let no_cert = Setup::new(Some(&db), json!({}));
    std::fs::remove_file(no_cert.dir().join("cert.pem")).unwrap();
    cli(no_cert.dir(), &["check-config"], "").fails(1, "cert.pem");

    let bad_key = Setup::new(Some(&db), json!({}));
    std::fs::write(bad_key.dir().join("key.pem"), "not a key").unwrap();
    cli(bad_key.dir(), &["check-config"], "").fails(1, "key.pem");

    let bad_keys = Setup::new(Some(&db), json!({}));
    std::fs::write(
        bad_keys.dir().join("verify_keys.json"),
        "{\"M\": \"short\"}",
    )
    .unwrap();
    cli(bad_keys.dir(), &["check-config"], "").fails(2, "verify_keys");

    let db_down = Setup::new(None, json!({}));
    cli(db_down.dir(), &["check-config"], "").fails(1, "database unavailable");

    let bad = Setup::new(Some(&db), json!({"bcrypt_cost": 99}));
    cli(bad.dir(), &["check-config"], "").fails(2, "bcrypt_cost");
}

#[test]
fn every_cli_change_is_in_the_audit_trail_as_the_clis() {
    let server = hub(json!({}));
    let dir = server.dir();
    let add = [
        "user",
        "add",
        "--email",
        "aud@example.org",
        "--name",
        "aud",
        "--password-stdin",
    ];
    assert_eq!(cli(dir, &add, "aud-password-1\n").code, Some(0));
    let id: i32 = server
        .db()
        .client()
        .query_one("SELECT id FROM users WHERE name = 'aud'", &[])
        .unwrap()
        .get(0);
    on(&server, &["user", "set-role", "aud", "teacher"]).ok();
    on(&server, &["sessions", "end", "--user", "aud"]).ok();
    let link = on(&server, &["user", "reset-link", "aud"]).ok().to_owned();
    on(&server, &["user", "delete", "aud"]).ok();
    let rows: Vec<(String, String, Option<String>)> = server
        .db()
        .client()
        .query(
            "SELECT actor, action, target FROM audit_events ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let target = Some(format!("user:{id}"));
    let expected: Vec<_> = [
        "user_created",
        "role_change",
        "sessions_ended",
        "reset_link_issued",
        "account_deleted",
    ]
    .iter()
    .map(|a| ("cli".to_owned(), (*a).to_owned(), target.clone()))
    .collect();
    assert_eq!(rows, expected);
    let phrase = link.rsplit('=').next().unwrap_or_default();
    assert!(phrase.len() > 20 && !format!("{rows:?}").contains(phrase));
}
