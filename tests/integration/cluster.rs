//! Several platform processes on one database: one registry of running
//! modules, one replay memory, and a process that dies losing its entries.

use crate::common;

use common::hub::*;
use common::original::{frames_until, start_v2};
use common::{merged, vectors, wait_until, Server, Setup, TestDb};
use serde_json::{json, Value};
use sse_platform::module_client::uuid4;
use std::time::Duration;

/// Long enough for a reap (every 2 s) and a little more.
const REAPED: Duration = Duration::from_secs(8);

/// `n` servers on one fresh database, with the vector modules' keys.
fn processes(n: usize) -> Vec<Server> {
    processes_on(&TestDb::new(), n)
}

fn processes_on(db: &TestDb, n: usize) -> Vec<Server> {
    let config = merged(
        // One cookie_secret for all, as the README asks: it keys the
        // sealing of the outbox's rows.
        json!({"verify_keys": vectors()["verify_keys_json"],
               "cookie_secret": "one-secret-for-every-process"}),
        json!({}),
    );
    (0..n)
        .map(|i| {
            let args: &[&str] = if i == 0 { &["--create_admin"] } else { &[] };
            Setup::new(Some(db), config.clone()).start(args)
        })
        .collect()
}

fn admin_token(server: &Server) -> String {
    server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD)
}

fn listed(server: &Server, token: &str) -> Value {
    running(server, token)
}

#[test]
fn a_module_runs_once_across_processes_and_every_process_lists_it() {
    let [a, b] = <[Server; 2]>::try_from(processes(2)).ok().expect("two");
    let token = admin_token(&a);
    let mut owner = raw(&a, "ListServ");
    assert_eq!(start_module(&mut owner, "ListServ", 8001)["success"], true);
    assert_eq!(listed(&b, &token)["ListServ"]["port"], 8001);

    let mut impostor = raw(&b, "ListServ");
    let v = start_module(&mut impostor, "ListServ", 9999);
    assert_eq!(
        (v["success"].clone(), v["reason"].clone()),
        (json!(false), json!("already_running"))
    );
    impostor.close();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        listed(&a, &token)["ListServ"]["port"],
        8001,
        "the refused one removed nothing"
    );

    owner.close();
    assert!(
        wait_until(REAPED, || listed(&b, &token).get("ListServ").is_none()),
        "gone from the other process's list"
    );
    let mut again = raw(&b, "ListServ");
    assert_eq!(start_module(&mut again, "ListServ", 8002)["success"], true);
    assert_eq!(listed(&a, &token)["ListServ"]["port"], 8002);
}

#[test]
fn an_envelope_accepted_by_one_process_is_refused_by_the_other() {
    let [a, b] = <[Server; 2]>::try_from(processes(2)).ok().expect("two");
    let message = json!({"type": "get_running_modules"});
    let envelope =
        signer("ListServ").envelope(message.as_object().cloned().unwrap_or_default(), &uuid4());
    let mut on_a = raw(&a, "ListServ");
    assert_eq!(
        exchange(&mut on_a, envelope.clone(), None)["type"],
        "get_running_modules_response"
    );
    let mut on_b = raw(&b, "ListServ");
    assert_eq!(
        exchange(&mut on_b, envelope, None)["type"],
        "signature_verification_error"
    );
    // A fresh id goes through on the second process: it refused the repeat,
    // not the module.
    let fresh =
        signer("ListServ").envelope(message.as_object().cloned().unwrap_or_default(), &uuid4());
    assert_eq!(
        exchange(&mut on_b, fresh, None)["type"],
        "get_running_modules_response"
    );
}

#[test]
fn a_process_killed_with_sigkill_loses_its_modules_and_the_others_hear_it() {
    let mut all = processes(2);
    let b = all.pop().expect("b");
    let mut a = all.pop().expect("a");
    let token = admin_token(&b);
    let mut doomed = raw(&a, "ListServ");
    assert_eq!(start_module(&mut doomed, "ListServ", 8001)["success"], true);
    let mut witness = start_v2(&b, "SocialServ", 8002);
    assert_eq!(listed(&b, &token)["ListServ"]["port"], 8001);

    a.signal("KILL");
    assert!(a.wait_for_exit(Duration::from_secs(5)).is_some(), "killed");
    let heard = frames_until(&mut witness, REAPED, |v| {
        v["type"] == "module_stopped" && v["name"] == "ListServ"
    });
    assert!(
        heard.last().is_some_and(|v| v["type"] == "module_stopped"),
        "heard: {heard:?}"
    );
    assert!(listed(&b, &token).get("ListServ").is_none());
    // The name is free again, on the survivor.
    let mut back = raw(&b, "ListServ");
    assert_eq!(start_module(&mut back, "ListServ", 8003)["success"], true);
}

/// Sends `message` signed by `module` without waiting for a reply.
fn send(
    conn: &mut sse_platform::module_client::Connection,
    module: &str,
    message: Value,
) -> String {
    let id = uuid4();
    let inner = message.as_object().cloned().unwrap_or_default();
    conn.send(signer(module).envelope(inner, &id), T)
        .expect("send");
    id
}

#[test]
fn a_module_on_one_process_hears_a_login_made_on_another() {
    let db = TestDb::new();
    let [a, b] = <[Server; 2]>::try_from(processes_on(&db, 2))
        .ok()
        .expect("two");
    let mut listener = start_v2(&a, "ListServ", 8001);
    let c = b.client();
    let first = c.register("roamer", "Pw-Roamer-9kq2X");
    let heard = frames_until(&mut listener, T, |v| {
        v["type"] == "user_login" && v["username"] == "roamer"
    });
    assert_eq!(
        heard.last().map(|v| v["type"].clone()),
        Some(json!("user_login")),
        "heard: {heard:?}"
    );
    assert_eq!(
        heard.last().map(|v| v["access_token"].clone()),
        Some(json!(first))
    );
    // The outbox row that carried it holds neither the token nor the name.
    let rows = db
        .client()
        .query("SELECT payload FROM hub_events", &[])
        .unwrap();
    assert!(!rows.is_empty(), "published through the outbox");
    for row in rows {
        let payload: String = row.get(0);
        assert!(
            !payload.contains(&first) && !payload.contains("roamer"),
            "sealed: {payload}"
        );
    }
    let token = c.login("roamer", "Pw-Roamer-9kq2X");
    c.bearer(&token).post("/logout");
    let ended = frames_until(&mut listener, T, |v| {
        v["type"] == "session_ended" && v["reason"] == "logout"
    });
    assert_eq!(
        ended.last().map(|v| v["type"].clone()),
        Some(json!("session_ended")),
        "heard: {ended:?}"
    );
}

#[test]
fn message_module_reaches_a_module_on_another_process_and_the_answer_comes_back() {
    let [a, b] = <[Server; 2]>::try_from(processes(2)).ok().expect("two");
    let mut asker = raw(&a, "ListServ");
    start_module(&mut asker, "ListServ", 8001);
    let mut answerer = raw(&b, "SocialServ");
    start_module(&mut answerer, "SocialServ", 8002);
    let id = send(
        &mut asker,
        "ListServ",
        json!({"type": "message_module", "to": "SocialServ", "text": "hi"}),
    );
    let got = parse(&answerer.recv(T).expect("recv").expect("forwarded"));
    assert_eq!(
        (
            got["type"].clone(),
            got["origin"].clone(),
            got["text"].clone()
        ),
        (json!("message_module"), json!("ListServ"), json!("hi"))
    );
    assert_eq!(got["resolve_id"], id.as_str());
    send(
        &mut answerer,
        "SocialServ",
        json!({"type": "message_module_response", "to": "ListServ", "answer": 42}),
    );
    let back = parse(&asker.recv(T).expect("recv").expect("answer forwarded"));
    assert_eq!(
        (back["origin"].clone(), back["answer"].clone()),
        (json!("SocialServ"), json!(42))
    );
    // No process has the module: the asker hears module_offline at once.
    let v = signed(
        &mut asker,
        &signer("ListServ"),
        json!({"type": "message_module", "to": "chatsystem"}),
    );
    assert_eq!(v["reason"], "module_offline");
}

#[test]
fn a_session_ended_or_a_role_changed_on_one_process_holds_on_the_other_at_once() {
    let [a, b] = <[Server; 2]>::try_from(processes(2)).ok().expect("two");
    let admin = admin_token(&a);
    let token = a.client().register("switcher", "Pw-Switcher-3kQz");
    let on_b = b.client().bearer(&token);
    // B has it cached from here on.
    assert_eq!(on_b.get("/me").ok_json()["user"]["role"], "guest");
    let r = a
        .client()
        .bearer(&admin)
        .post_form("/roles", &[("user_name", "switcher"), ("role", "teacher")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        wait_until(T, || on_b.get("/me").ok_json()["user"]["role"] == "teacher"),
        "the other process answers with the new role"
    );
    assert_eq!(a.client().bearer(&token).post("/logout").status, 200);
    assert!(
        wait_until(T, || on_b.get("/me").status == 401),
        "the other process refuses the ended session"
    );
}

/// A module that leaves while the database is away (its entry cannot be
/// deleted then) is neither listed once the database is back nor
/// `already_running` when it starts again: the process writes the table
/// again from its registry. The platform's connections are cut and kept
/// away by revoking CONNECT.
#[test]
fn a_module_that_left_while_the_database_was_away_is_not_left_listed() {
    let db = TestDb::new();
    let [server] = <[Server; 1]>::try_from(processes_on(&db, 1))
        .ok()
        .expect("one");
    let token = admin_token(&server);
    let module = start_v2(&server, "ListServ", 8001);
    assert_eq!(listed(&server, &token)["ListServ"]["port"], 8001);

    let mut sql = db.client();
    let name = db.name();
    sql.batch_execute(&format!(
        "REVOKE CONNECT ON DATABASE {name} FROM PUBLIC, CURRENT_USER"
    ))
    .unwrap();
    sql.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
         WHERE application_name LIKE 'sse-platform%' AND datname = current_database()",
        &[],
    )
    .unwrap();
    drop(module);
    server.wait_for_log(Duration::from_secs(10), |log| {
        log.contains("shared entries stay")
    });
    sql.batch_execute(&format!(
        "GRANT CONNECT ON DATABASE {name} TO PUBLIC, CURRENT_USER"
    ))
    .unwrap();
    assert!(
        wait_until(REAPED, || {
            let r = server.client().bearer(&token).get("/execution/running");
            r.status == 200 && r.json()["running_modules"].get("ListServ").is_none()
        }),
        "the module that left is not listed: {}",
        server.log()
    );
    let again = start_v2(&server, "ListServ", 8002);
    assert_eq!(listed(&server, &token)["ListServ"]["port"], 8002);
    drop(again);
}

/// Many message_module at once from one process to a module on another:
/// the outbox's ids are taken in one order and committed in another, and
/// the reader must still deliver each exactly once.
#[test]
fn concurrent_messages_across_processes_all_arrive_once() {
    const SENDERS: usize = 16;
    const EACH: usize = 50;
    let [a, b] = <[Server; 2]>::try_from(processes(2)).ok().expect("two");
    let mut answerer = raw(&b, "SocialServ");
    start_module(&mut answerer, "SocialServ", 8002);
    let mut asker = raw(&a, "ListServ");
    start_module(&mut asker, "ListServ", 8001);
    // A knows SocialServ runs on B once the first message gets through.
    assert!(wait_until(T, || {
        send(
            &mut asker,
            "ListServ",
            json!({"type": "message_module", "to": "SocialServ"}),
        );
        answerer
            .recv(Duration::from_millis(500))
            .ok()
            .flatten()
            .is_some()
    }));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let mut conn = raw(&a, "ListServ");
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|n| {
                        let message = json!({"type": "message_module", "to": "SocialServ", "n": n});
                        send(&mut conn, "ListServ", message)
                    })
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let mut sent: Vec<String> = senders
        .into_iter()
        .flat_map(|t| t.join().expect("sender"))
        .collect();
    let mut heard = Vec::new();
    while heard.len() < sent.len() {
        match answerer.recv(T) {
            Ok(Some(text)) => {
                let v = parse(&text);
                if v["type"] == "message_module" {
                    heard.push(v["resolve_id"].as_str().unwrap_or_default().to_owned());
                }
            }
            _ => break,
        }
    }
    sent.sort();
    heard.sort();
    assert_eq!(
        (heard.len(), sent.len()),
        (sent.len(), SENDERS * EACH),
        "every message once"
    );
    assert_eq!(heard, sent);
}

/// A process alone checks replays in memory and writes them behind its
/// back; a process that starts later still refuses what the first one
/// accepted before it came, and the first asks the table as soon as it
/// hears of the second.
#[test]
fn replays_are_shared_with_a_process_that_starts_later() {
    let db = TestDb::new();
    let [a] = <[Server; 1]>::try_from(processes_on(&db, 1))
        .ok()
        .expect("one");
    let message = json!({"type": "get_running_modules"});
    let envelope =
        || signer("ListServ").envelope(message.as_object().cloned().unwrap_or_default(), &uuid4());
    let before = envelope();
    let mut on_a = raw(&a, "ListServ");
    assert_eq!(
        exchange(&mut on_a, before.clone(), None)["type"],
        "get_running_modules_response"
    );
    assert!(
        wait_until(T, || a.log().contains("replay checks ask the database")
            || {
                let mut sql = db.client();
                let n: i64 = sql
                    .query_one("SELECT count(*) FROM hub_replay", &[])
                    .unwrap()
                    .get(0);
                n >= 1
            }),
        "written behind its back"
    );
    let config = merged(
        json!({"verify_keys": vectors()["verify_keys_json"],
               "cookie_secret": "one-secret-for-every-process"}),
        json!({}),
    );
    let b = Setup::new(Some(&db), config).start(&[]);
    let mut on_b = raw(&b, "ListServ");
    assert_eq!(
        exchange(&mut on_b, before, None)["type"],
        "signature_verification_error",
        "accepted by A before B started"
    );
    a.wait_for_log(T, |log| log.contains("replay checks ask the database"));
    let on_b_first = envelope();
    assert_eq!(
        exchange(&mut on_b, on_b_first.clone(), None)["type"],
        "get_running_modules_response"
    );
    assert_eq!(
        exchange(&mut on_a, on_b_first, None)["type"],
        "signature_verification_error",
        "accepted by B, refused by A"
    );
}
