//! The hub under trouble: stuck modules, silent modules, changing keys and
//! a database that goes away, against the real server.

use crate::common;

use common::hub::*;
use common::{vectors, wait_until, Setup, TestDb};
use serde_json::json;
use sse_platform::module_client::{uuid4, ClientError, ModuleClient};
use std::time::Duration;

#[test]
fn a_module_that_stops_reading_does_not_delay_the_others() {
    let server = hub(json!({"hub_queue_len": 16}));
    let mut stuck = raw(&server, "chatsystem");
    start_module(&mut stuck, "chatsystem", 8003);
    let mut healthy = raw(&server, "SocialServ");
    start_module(&mut healthy, "SocialServ", 8002);
    let mut sender = raw(&server, "ListServ");
    start_module(&mut sender, "ListServ", 8001);
    // Fill the stuck module's socket and queue with large messages.
    let payload = "p".repeat(40_000); // under 64 KiB once signed and base64-encoded
    let s = signer("ListServ");
    // Loopback socket buffers absorb ~10 MB before the platform's queue fills.
    for _ in 0..400 {
        let msg = json!({"type": "message_module", "to": "chatsystem", "blob": payload});
        sender
            .send(
                s.envelope(msg.as_object().cloned().unwrap_or_default(), &uuid4()),
                T,
            )
            .expect("send");
    }
    server.wait_for_log(Duration::from_secs(10), |log| {
        log.contains("does not keep up")
    });
    server.client().register("erin", "erin-password");
    let got = drain(&mut healthy, Duration::from_millis(500));
    assert!(
        got.iter()
            .any(|m| m["type"] == "user_login" && m["username"] == "erin"),
        "{got:?}"
    );
    let token = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    assert!(wait_until(T, || running(&server, &token)
        .get("chatsystem")
        .is_none()));
}

#[test]
fn a_module_that_stops_answering_pings_is_removed() {
    let server = hub(json!({"hub_ping_interval_seconds": 1, "hub_ping_timeout_seconds": 2}));
    let mut quiet = raw(&server, "ListServ");
    start_module(&mut quiet, "ListServ", 8001);
    let token = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    assert!(running(&server, &token).get("ListServ").is_some());
    // Never reading means never answering the platform's pings.
    assert!(wait_until(Duration::from_secs(8), || running(
        &server, &token
    )
    .get("ListServ")
    .is_none()));
    server.wait_for_log(Duration::from_secs(5), |log| {
        log.contains("no answer to pings")
    });
}

#[test]
fn key_file_changes_are_picked_up_and_removed_keys_disconnect() {
    let server = hub(json!({}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let keys_path = server.dir().join("verify_keys.json");
    std::fs::write(&keys_path, "{\n  \"ListServ\": \n}").expect("write");
    server.wait_for_log(T, |log| {
        log.contains("keeping the previous module keys") && log.contains("line 3")
    });
    assert!(client.is_connected(), "a malformed file changes nothing");
    let only_social = json!({"SocialServ": vectors()["verify_keys_json"]["SocialServ"]});
    std::fs::write(&keys_path, only_social.to_string()).expect("write");
    assert!(
        wait_until(T, || !client.is_connected()),
        "ListServ lost its key and its connection"
    );
    drop(client);
    assert!(matches!(
        ModuleClient::connect(options(&server, "ListServ", 8001)).err(),
        Some(
            ClientError::Connect(_)
                | ClientError::Timeout
                | ClientError::Closed(_)
                | ClientError::Refused(_)
        )
    ));
    let social =
        ModuleClient::connect(options(&server, "SocialServ", 8002)).expect("new key works");
    assert!(social.is_connected());
}

#[test]
fn sighup_reloads_keys_even_when_the_file_looks_unchanged() {
    let server = hub(json!({}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let path = server.dir().join("verify_keys.json");
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    // Swap two keys: same length, and the old modification time restored, so
    // only SIGHUP can tell the platform.
    let keys = vectors()["verify_keys_json"].clone();
    let swapped = json!({"ListServ": keys["SocialServ"], "SocialServ": keys["ListServ"], "chatsystem": keys["chatsystem"]});
    std::fs::write(&path, swapped.to_string()).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(modified))
        .expect("restore mtime");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        client.is_connected(),
        "the file poll cannot see this change"
    );
    let pid = server.pid().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    server.wait_for_log(T, |log| log.contains("SIGHUP"));
    assert!(
        wait_until(T, || !client.is_connected()),
        "ListServ's key changed: disconnected"
    );
}

#[test]
fn database_outage_gives_modules_database_unavailable_and_recovers() {
    let cluster = common::PgCluster::init();
    let db = TestDb::on(&cluster.conninfo());
    let config =
        json!({"verify_keys": vectors()["verify_keys_json"], "pg_checkout_timeout_seconds": 1});
    let server = Setup::new(Some(&db), config).start(&["--create_admin"]);
    let mut conn = raw(&server, "ListServ");
    let s = signer("ListServ");
    assert_eq!(
        signed(
            &mut conn,
            &s,
            json!({"type": "get_user", "username": "admin"})
        )["success"],
        true
    );
    cluster.stop();
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "get_user", "username": "admin"}),
    );
    assert_eq!(
        (v["type"].clone(), v["success"].clone(), v["reason"].clone()),
        (
            json!("get_user_response"),
            json!(false),
            json!("database_unavailable")
        )
    );
    cluster.start();
    assert!(
        wait_until(Duration::from_secs(30), || {
            signed(
                &mut conn,
                &s,
                json!({"type": "get_user", "username": "admin"}),
            )["success"]
                == true
        }),
        "the same connection works again once PostgreSQL is back"
    );
}
