//! The module hub over real TLS WebSockets against the real server and
//! PostgreSQL: docs/module-protocol.md, with the original's defects fixed
//! (docs/security.md).

use crate::common;

use common::hub::*;
use common::{vectors, wait_until};
use serde_json::{json, Map, Value};
use sse_platform::module_client::{uuid4, Connection, Signer};
use std::time::Duration;

#[test]
fn every_vector_case_gives_the_expected_result_over_the_wire() {
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({"hub_max_bad_messages": 10}));
    let mut conn = raw(&server, "ListServ");
    for _ in 0..10 {
        let _ = conn.send("garbage".into(), T);
    }
    let closed = wait_until(T, || conn.recv(Duration::from_millis(100)).is_err());
    assert!(closed, "connection still open after 10 bad messages");
}

#[test]
fn an_unauthenticated_socket_hears_no_broadcast() {
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
    let server = hub(json!({}));
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
fn a_role_change_is_announced_to_modules() {
    let server = hub(json!({}));
    // A message type the original never sent: protocol 2 only.
    let mut module = common::original::start_v2(&server, "ListServ", 8001);
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

/// The original client reads `resolve_id` of every reply it does not handle
/// itself; an error reply without one would end its read loop.
#[test]
fn binary_frames_that_are_not_json_get_an_error_an_original_client_can_read() {
    use tungstenite::client::IntoClientRequest;
    let server = hub(json!({}));
    let tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let tls = common::tls_handshake(tcp, server.cert_pem()).expect("TLS");
    let request = "wss://localhost/websocket"
        .into_client_request()
        .expect("request");
    let (mut ws, _) = tungstenite::client::client(request, tls).expect("upgrade");
    ws.get_ref()
        .get_ref()
        .set_read_timeout(Some(T))
        .expect("timeout");
    // Not UTF-8, UTF-8 but not JSON, and JSON but not an object.
    for frame in [&[0xff, 0xfe, 0x00][..], b"not json", b"[1, 2]"] {
        ws.send(tungstenite::Message::binary(frame.to_vec()))
            .expect("send");
        let reply = loop {
            match ws.read().expect("a reply") {
                tungstenite::Message::Text(text) => break parse(text.as_str()),
                _ => continue,
            }
        };
        assert_eq!(reply["type"], "message_format_error");
        assert!(reply.get("resolve_id").is_some(), "{reply}");
    }
}

/// docs/schemas/from_module documents each request type with examples:
/// the platform answers every one of them, in the documented shape.
#[test]
fn every_documented_request_type_is_answered() {
    let server = hub(json!({}));
    let mut conn = raw(&server, "ListServ");
    let s = signer("ListServ");
    let dir = common::schemas::root().join("from_module");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("from_module")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut unanswered = Vec::new();
    for name in names {
        let kind = name.trim_end_matches(".json");
        // Not requests; and an answer to an offline module gets no reply.
        if [
            "envelope",
            "module_socket_connect",
            "message_module_response",
        ]
        .contains(&kind)
        {
            continue;
        }
        let text = std::fs::read_to_string(dir.join(&name)).expect("read");
        let schema: Value = serde_json::from_str(&text).expect("JSON");
        for example in schema["examples"].as_array().into_iter().flatten() {
            let mut message = example.clone();
            if let Some(m) = message.as_object_mut() {
                m.remove("origin");
                m.remove("resolve_id");
            }
            let reply = signed(&mut conn, &s, message);
            let expected = match kind {
                "post_template" => "get_template_response".to_owned(),
                _ => format!("{kind}_response"),
            };
            if reply["type"] != expected.as_str() {
                unanswered.push(format!("{kind}: {reply}"));
            }
        }
    }
    assert!(unanswered.is_empty(), "{unanswered:#?}");
}
