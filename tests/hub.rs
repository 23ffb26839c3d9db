//! The module hub over real TLS WebSockets against the real server and
//! PostgreSQL: protocol.md §2 with the defects of §3 fixed.

mod common;

use common::{wait_until, Server, TestDb};
use serde_json::{json, Map, Value};
use sse_platform::module_client::{
    uuid4, ClientError, Connection, ModuleClient, Options, Signer, Target,
};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json")
}

fn seed(module: &str) -> String {
    vectors()["modules"][module]["signing_key_file"]
        .as_str()
        .expect("seed")
        .to_owned()
}

fn signer(module: &str) -> Signer {
    Signer::new(module, &seed(module)).expect("signer")
}

/// A server whose verify_keys.json holds the three vector modules.
fn hub(extra: Value) -> (TestDb, Server) {
    let db = TestDb::new();
    let mut config = json!({"verify_keys": vectors()["verify_keys_json"]});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let server = Server::start(&db, config, &["--create_admin"]);
    (db, server)
}

fn target(server: &Server) -> Target {
    Target {
        url: format!("wss://127.0.0.1:{}/websocket", server.port),
        ca_pem: Some(server.cert_pem().as_bytes().to_vec()),
        timeout: T,
    }
}

/// A raw connection opened with the original client's GET-with-body.
fn raw(server: &Server, module: &str) -> Connection {
    let body = json!({"type": "module_socket_connect", "module": module}).to_string();
    Connection::open(&target(server), Some(&body)).expect("connect")
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Sends `text` and returns the next frame that carries `resolve_id` (or,
/// if `resolve_id` is None, the next frame).
fn exchange(conn: &mut Connection, text: String, resolve_id: Option<&str>) -> Value {
    conn.send(text, T).expect("send");
    loop {
        let frame = conn.recv(T).expect("recv").expect("no reply in time");
        let v = parse(&frame);
        if resolve_id.is_none() || v["resolve_id"].as_str() == resolve_id {
            return v;
        }
    }
}

/// A signed request on a raw connection; returns the reply.
fn signed(conn: &mut Connection, signer: &Signer, message: Value) -> Value {
    let id = uuid4();
    let Value::Object(inner) = message else {
        panic!("object")
    };
    exchange(conn, signer.envelope(inner, &id), Some(&id))
}

fn start_module(conn: &mut Connection, module: &str, port: u16) -> Value {
    signed(
        conn,
        &signer(module),
        json!({"type": "module_start", "module_name": module, "port": port}),
    )
}

fn options(server: &Server, module: &str, port: u16) -> Options {
    Options {
        url: target(server).url,
        module: module.into(),
        signing_key: seed(module),
        port,
        public_url: None,
        ca_pem: Some(server.cert_pem().as_bytes().to_vec()),
        timeout: T,
    }
}

fn running(server: &Server, token: &str) -> Value {
    server
        .client()
        .token(token)
        .get("/execution/running")
        .ok_json()["running_modules"]
        .clone()
}

/// Frames that arrive within `wait`.
fn drain(conn: &mut Connection, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(frame)) = conn.recv(wait) {
        got.push(parse(&frame));
    }
    got
}

#[test]
fn every_vector_case_gives_the_expected_result_over_the_wire() {
    let (_db, server) = hub(json!({}));
    for case in vectors()["signed_messages"].as_array().expect("cases") {
        let mut conn = raw(&server, "ListServ");
        let reply = exchange(
            &mut conn,
            case["wire"].as_str().expect("wire").to_owned(),
            None,
        );
        let name = case["name"].as_str().unwrap_or("?");
        match case["expect"].as_str() {
            Some("accept") => assert!(
                reply["type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("_response")),
                "{name}: {reply}"
            ),
            _ => assert_eq!(
                reply["type"], "signature_verification_error",
                "{name}: {reply}"
            ),
        }
    }
}

#[test]
fn plain_upgrade_and_original_handshake_both_register() {
    let (_db, server) = hub(json!({}));
    let mut plain = Connection::open(&target(&server), None).expect("plain upgrade");
    let reply = start_module(&mut plain, "ListServ", 8001);
    assert_eq!(reply["type"], "module_start_response");
    assert_eq!(reply["status"], "recognized");
    assert_eq!(reply["success"], true);
    let mut original = raw(&server, "SocialServ");
    assert_eq!(
        start_module(&mut original, "SocialServ", 8002)["success"],
        true
    );
    let token = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let modules = running(&server, &token);
    assert_eq!(modules["ListServ"]["port"], 8001);
    assert_eq!(modules["SocialServ"]["port"], 8002);
    assert_eq!(modules["platform"]["port"], server.port);
}

#[test]
fn user_requests_answer_from_the_database() {
    let (_db, server) = hub(json!({}));
    let token = server.client().register("bob", "bob-password");
    let mut conn = raw(&server, "ListServ");
    let s = signer("ListServ");
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "token_validation", "access_token": token}),
    );
    assert_eq!(v["type"], "token_validation_response");
    assert_eq!(v["success"], true);
    assert_eq!(v["user"]["username"], "bob");
    assert_eq!(v["user"]["role"], "guest");
    assert!(v["user"]["expires"].as_i64().is_some());
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "token_validation", "access_token": "x".repeat(44)}),
    );
    assert_eq!(v["success"], false);
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "get_user", "username": "bob"}),
    );
    assert_eq!(v["user"]["email"], "bob@example.org");
    assert_eq!(v["user"]["username"], "bob");
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "get_user", "username": "nobody"}),
    );
    assert_eq!(
        (v["success"].clone(), v["reason"].clone()),
        (json!(false), json!("user_not_found"))
    );
    let v = signed(&mut conn, &s, json!({"type": "get_user_list"}));
    assert_eq!(v["users"]["bob"]["role"], "guest");
    assert!(v["users"]["admin"].is_object(), "{v}");
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "check_permission", "username": "admin"}),
    );
    assert_eq!(
        (v["username"].clone(), v["role"].clone()),
        (json!("admin"), json!("admin"))
    );
    let v = signed(&mut conn, &s, json!({"type": "get_running_modules"}));
    assert_eq!(v["running_modules"]["platform"]["port"], server.port);
}

#[test]
fn user_logout_revokes_and_tells_the_other_modules() {
    let (_db, server) = hub(json!({}));
    let token = server.client().register("carol", "carol-password");
    let mut a = raw(&server, "ListServ");
    start_module(&mut a, "ListServ", 8001);
    let mut b = raw(&server, "SocialServ");
    start_module(&mut b, "SocialServ", 8002);
    let v = signed(
        &mut a,
        &signer("ListServ"),
        json!({"type": "user_logout", "access_token": token}),
    );
    assert_eq!(
        (v["type"].clone(), v["success"].clone()),
        (json!("user_logout_response"), json!(true))
    );
    let seen = drain(&mut b, Duration::from_millis(500));
    assert!(
        seen.iter()
            .any(|m| m["type"] == "user_logout" && m["access_token"] == token.as_str()),
        "{seen:?}"
    );
    assert!(!drain(&mut a, Duration::from_millis(200))
        .iter()
        .any(|m| m["type"] == "user_logout"));
    server
        .client()
        .token(&token)
        .get("/roles")
        .assert_error(401, "no_token");
}

#[test]
fn errors_get_replies_and_the_connection_stays_open() {
    let (_db, server) = hub(json!({}));
    let mut conn = raw(&server, "ListServ");
    let s = signer("ListServ");
    let v = exchange(&mut conn, "this is not json".into(), None);
    assert_eq!(v["type"], "message_format_error");
    let v = signed(&mut conn, &s, json!({"type": "teleport"}));
    assert_eq!(
        (v["type"].clone(), v["reason"].clone()),
        (json!("protocol_error"), json!("invalid request type"))
    );
    let v = signed(&mut conn, &s, json!({"type": "get_user"}));
    assert_eq!(v["type"], "get_user_response");
    assert_eq!(v["reason"], "message_format_error");
    assert_eq!(v["description"], "Message misses key 'username'");
    let v = signed(
        &mut conn,
        &s,
        json!({"type": "module_start", "module_name": "ListServ", "port": "many"}),
    );
    assert_eq!(v["reason"], "message_format_error");
    let mut no_type = Map::new();
    no_type.insert("hello".into(), json!(1));
    let v = exchange(&mut conn, s.envelope(no_type, &uuid4()), None);
    assert_eq!(v["type"], "message_format_error");
    let big = json!({"type": "get_user", "username": "x".repeat(70_000)});
    let v = signed(&mut conn, &s, big);
    assert_eq!(
        v["type"], "message_format_error",
        "over the 64 KiB frame limit: {v}"
    );
    // Still open and answering.
    assert_eq!(start_module(&mut conn, "ListServ", 8001)["success"], true);
}

#[test]
fn a_connection_that_keeps_sending_garbage_is_closed() {
    let (_db, server) = hub(json!({"hub_max_bad_messages": 10}));
    let mut conn = raw(&server, "ListServ");
    for _ in 0..10 {
        let _ = conn.send("garbage".into(), T);
    }
    let closed = wait_until(T, || conn.recv(Duration::from_millis(100)).is_err());
    assert!(closed, "connection still open after 10 bad messages");
}

#[test]
fn an_unauthenticated_socket_hears_no_broadcast() {
    let (_db, server) = hub(json!({}));
    let mut stranger = Connection::open(&target(&server), None).expect("connect");
    let mut module = raw(&server, "ListServ");
    start_module(&mut module, "ListServ", 8001);
    let token = server.client().register("dave", "dave-password");
    let got = drain(&mut module, Duration::from_millis(500));
    let login = got
        .iter()
        .find(|m| m["type"] == "user_login")
        .expect("module hears user_login");
    assert_eq!(login["username"], "dave");
    assert_eq!(login["access_token"], token.as_str());
    assert!(login["id"].as_i64().is_some());
    assert_eq!(
        drain(&mut stranger, Duration::from_millis(300)),
        Vec::<Value>::new()
    );
}

#[test]
fn an_impostor_cannot_take_or_remove_a_running_module() {
    let (_db, server) = hub(json!({}));
    let mut owner = raw(&server, "ListServ");
    assert_eq!(start_module(&mut owner, "ListServ", 8001)["success"], true);
    // A stranger claims the name in the handshake and signs with another key.
    let mut impostor = raw(&server, "ListServ");
    let forged = Signer::new("ListServ", &seed("SocialServ")).expect("signer");
    let v = signed(
        &mut impostor,
        &forged,
        json!({"type": "module_start", "module_name": "ListServ", "port": 6666}),
    );
    assert_eq!(v["type"], "signature_verification_error");
    impostor.close();
    // A module with a valid key of its own may not register another's name.
    let mut other = raw(&server, "SocialServ");
    let v = signed(
        &mut other,
        &signer("SocialServ"),
        json!({"type": "module_start", "module_name": "ListServ", "port": 6667}),
    );
    assert_eq!(v["success"], false);
    // The real owner on a second connection is told it already runs.
    let mut second = raw(&server, "ListServ");
    let v = start_module(&mut second, "ListServ", 6668);
    assert_eq!(
        (v["success"].clone(), v["reason"].clone()),
        (json!(false), json!("already_running"))
    );
    second.close();
    other.close();
    let token = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(running(&server, &token)["ListServ"]["port"], 8001);
    owner.close();
    assert!(wait_until(T, || running(&server, &token)
        .get("ListServ")
        .is_none()));
}

#[test]
fn a_connection_keeps_the_identity_of_its_first_envelope() {
    let (_db, server) = hub(json!({}));
    let mut conn = raw(&server, "ListServ");
    start_module(&mut conn, "ListServ", 8001);
    let v = signed(
        &mut conn,
        &signer("SocialServ"),
        json!({"type": "get_user_list"}),
    );
    assert_eq!(v["type"], "signature_verification_error");
}

#[test]
fn a_replayed_envelope_is_refused_on_any_connection() {
    let (_db, server) = hub(json!({}));
    let envelope = signer("ListServ").envelope(
        json!({"type": "get_running_modules"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        &uuid4(),
    );
    let mut a = raw(&server, "ListServ");
    assert_eq!(
        exchange(&mut a, envelope.clone(), None)["type"],
        "get_running_modules_response"
    );
    assert_eq!(
        exchange(&mut a, envelope.clone(), None)["type"],
        "signature_verification_error"
    );
    let mut b = raw(&server, "ListServ");
    assert_eq!(
        exchange(&mut b, envelope, None)["type"],
        "signature_verification_error"
    );
    assert!(server.log().contains("replayed"), "replay is logged");
}

#[test]
fn message_module_is_forwarded_with_the_senders_authenticated_name() {
    let (_db, server) = hub(json!({}));
    let mut a = raw(&server, "ListServ");
    start_module(&mut a, "ListServ", 8001);
    let mut b = raw(&server, "SocialServ");
    start_module(&mut b, "SocialServ", 8002);
    let id = uuid4();
    let msg = json!({"type": "message_module", "to": "SocialServ", "text": "hi"});
    a.send(
        signer("ListServ").envelope(msg.as_object().cloned().unwrap_or_default(), &id),
        T,
    )
    .expect("send");
    let got = parse(&b.recv(T).expect("recv").expect("forwarded"));
    assert_eq!(
        (
            got["type"].clone(),
            got["origin"].clone(),
            got["text"].clone()
        ),
        (json!("message_module"), json!("ListServ"), json!("hi"))
    );
    assert_eq!(got["resolve_id"], id.as_str());
    let answer = json!({"type": "message_module_response", "to": "ListServ", "answer": 42});
    let rid = uuid4();
    b.send(
        signer("SocialServ").envelope(answer.as_object().cloned().unwrap_or_default(), &rid),
        T,
    )
    .expect("send");
    let back = parse(&a.recv(T).expect("recv").expect("reply forwarded"));
    assert_eq!(
        (back["origin"].clone(), back["answer"].clone()),
        (json!("SocialServ"), json!(42))
    );
    let v = signed(
        &mut a,
        &signer("ListServ"),
        json!({"type": "message_module", "to": "chatsystem"}),
    );
    assert_eq!(
        (v["type"].clone(), v["reason"].clone()),
        (json!("message_module_response"), json!("module_offline"))
    );
}

#[test]
fn a_module_that_stops_reading_does_not_delay_the_others() {
    let (_db, server) = hub(json!({"hub_queue_len": 16}));
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
    let (_db, server) = hub(json!({"hub_ping_interval_seconds": 1, "hub_ping_timeout_seconds": 2}));
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
    assert!(server.log().contains("no answer to pings"));
}

#[test]
fn key_file_changes_are_picked_up_and_removed_keys_disconnect() {
    let (_db, server) = hub(json!({}));
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
fn module_client_requests_events_cache_and_reconnect() {
    // A fixed port, so that the restarted server is where the client was.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (_db, mut server) = hub(json!({"port": port}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let v = client
        .request(json!({"type": "get_running_modules"}), T)
        .expect("request");
    assert_eq!(v["running_modules"]["ListServ"]["port"], 8001);
    let token = server.client().register("frank", "frank-password");
    let event = client.events().recv_timeout(T).expect("user_login event");
    assert_eq!(event["type"], "user_login");
    assert_eq!(
        client.cache().get(&token).map(|u| u.username),
        Some("frank".into())
    );
    assert_eq!(
        client
            .validate_token(&token)
            .expect("validate")
            .map(|u| u.user_id),
        event["id"].as_i64()
    );
    server.restart();
    assert!(wait_until(Duration::from_secs(20), || client
        .is_connected()
        && client
            .request(json!({"type": "get_running_modules"}), T)
            .is_ok_and(
                |v| v["running_modules"]["ListServ"]["port"] == 8001
            )));
    // The session survived the restart too.
    assert!(
        client
            .request(
                json!({"type": "token_validation", "access_token": token}),
                T
            )
            .expect("validate")["success"]
            == true
    );
}

#[test]
fn keygen_writes_original_formats_and_refuses_to_overwrite() {
    let dir = common::TempDir::new("keygen");
    let out = std::process::Command::new(common::BIN)
        .args(["keygen", "--name", "newmod", "--out"])
        .arg(dir.path())
        .output()
        .expect("run keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let seed = std::fs::read_to_string(dir.path().join("signing_key.key")).expect("signing key");
    let public = std::fs::read_to_string(dir.path().join("verify_key.key")).expect("verify key");
    assert!(
        printed.contains(&format!("\"newmod\": \"{public}\"")),
        "{printed}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("signing_key.key"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let line = format!("{{{}}}", printed.lines().last().unwrap_or_default().trim());
    let keys: Value = serde_json::from_str(&line).expect("the printed line is JSON");
    assert_eq!(keys["newmod"], public.as_str());
    assert!(Signer::new("newmod", &seed).is_ok());
    let again = std::process::Command::new(common::BIN)
        .args(["keygen", "--name", "newmod", "--out"])
        .arg(dir.path())
        .output()
        .expect("run keygen");
    assert!(!again.status.success(), "must refuse to overwrite");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("signing_key.key")).expect("kept"),
        seed
    );
}

/// Builds (if needed) and starts examples/hello_module.rs; returns the
/// child and its HTTP port.
fn start_hello_module(
    server: &Server,
    key_path: &std::path::Path,
    secret: &str,
) -> (std::process::Child, u16) {
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "hello_module"])
        .status()
        .expect("cargo build --example");
    assert!(built.success());
    let exe = std::path::Path::new(common::BIN)
        .parent()
        .expect("target dir")
        .join("examples/hello_module");
    let cert = server.dir().join("cert.pem");
    let mut child = std::process::Command::new(exe)
        .args([
            "--platform",
            &target(server).url,
            "--name",
            "ListServ",
            "--cookie-secret",
            secret,
        ])
        .arg("--key")
        .arg(key_path)
        .arg("--ca")
        .arg(cert)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start hello_module");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    (
        child,
        port.unwrap_or_else(|| panic!("unexpected first line: {line}")),
    )
}

#[test]
fn hello_module_greets_the_logged_in_user_end_to_end() {
    let secret = "hello-module-shared-secret-0123";
    let (_db, server) = hub(json!({"cookie_secret": secret}));
    let key_path = server.dir().join("signing_key.key");
    std::fs::write(&key_path, seed("ListServ")).expect("write key");
    let (mut child, port) = start_hello_module(&server, &key_path, secret);
    let admin = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    assert_eq!(running(&server, &admin)["ListServ"]["port"], port);
    let browser = server.client().with_jar();
    browser.register("grace", "grace-password");
    let cookie = browser.jar_cookie().expect("the platform set its cookie");
    let module = common::Client::new(&format!("http://127.0.0.1:{port}"), None);
    let page = module.cookie(&cookie).get("/");
    assert_eq!((page.status, page.body.as_str()), (200, "Hello, grace!"));
    assert_eq!(module.get("/").status, 401, "no cookie, no greeting");
    let mut forged = cookie.clone();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        module.cookie(&forged).get("/").status,
        401,
        "a tampered cookie is refused"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_password_change_tells_modules_to_drop_all_of_the_users_tokens() {
    let (_db, server) = hub(json!({}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let web = server.client();
    let first = web.register("heidi", "heidi-password");
    let second = web.login("heidi", "heidi-password");
    assert!(wait_until(T, || client.cache().get(&first).is_some()
        && client.cache().get(&second).is_some()));
    let r = web.token(&first).post_form(
        "/password/change",
        &[
            ("old_password", "heidi-password"),
            ("new_password", "heidi-password-2"),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(
        wait_until(T, || client.cache().get(&second).is_none()),
        "the other session's token is dropped too"
    );
    assert!(client
        .validate_token(&second)
        .expect("ask the platform")
        .is_none());
}

#[test]
fn a_role_change_is_announced_to_modules() {
    let (_db, server) = hub(json!({}));
    let mut module = raw(&server, "ListServ");
    start_module(&mut module, "ListServ", 8001);
    let web = server.client();
    web.register("judy", "judy-password");
    let admin = web.login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let r = web
        .token(&admin)
        .post_form("/roles", &[("user_name", "judy"), ("role", "teacher")]);
    assert_eq!(r.status, 200);
    let got = drain(&mut module, Duration::from_millis(500));
    let change = got
        .iter()
        .find(|m| m["type"] == "user_role_change")
        .expect("announced");
    assert_eq!(
        (change["username"].clone(), change["role"].clone()),
        (json!("judy"), json!("teacher"))
    );
}

#[test]
fn sighup_reloads_keys_even_when_the_file_looks_unchanged() {
    let (_db, server) = hub(json!({}));
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
    let server = Server::start(&db, config, &["--create_admin"]);
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
