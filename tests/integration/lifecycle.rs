//! Stopping and reloading: SIGTERM lets requests in flight finish and tells
//! modules 1001, a second signal exits at once, SIGHUP swaps the TLS
//! certificate for new handshakes without touching open connections.

use crate::common;

use common::hub::{hub, signer, T};
use common::{form, self_signed_cert, tls_handshake, Server};
use serde_json::json;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode;

const PASSWORD: &str = "lifecycle password";

/// A login whose body is half sent: in flight until the rest arrives.
fn half_sent_login(server: &Server) -> (common::RawConn<common::TlsStream>, String) {
    let body = form(&[("nickname", "bob"), ("password", PASSWORD)]);
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = server.raw_tls();
    conn.send(format!("{head}{first}").as_bytes())
        .expect("send");
    (conn, rest.to_owned())
}

#[test]
fn a_request_in_flight_when_sigterm_arrives_gets_its_full_answer_and_the_exit_is_0() {
    let mut server = Server::start(json!({}), &[]);
    server.client().register("bob", PASSWORD);
    let (mut conn, rest) = half_sent_login(&server);
    server.signal("TERM");
    server.wait_for_log(T, |log| log.contains("stopping on signal"));
    // No new connections, while the old one is still served.
    let refused = common::wait_until(T, || server.try_raw_tls().is_err());
    assert!(refused, "still accepting after SIGTERM");
    conn.send(rest.as_bytes()).expect("rest of the body");
    let answer = conn.read_response(T).expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.json()["access_token"].is_string(), "{}", answer.body);
    let status = server.wait_for_exit(T).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("stopped"), "{}", server.log());
}

#[test]
fn a_request_that_never_finishes_is_cut_after_shutdown_seconds() {
    let mut server = Server::start(json!({"shutdown_seconds": 1}), &[]);
    let (_conn, _rest) = half_sent_login(&server);
    let start = Instant::now();
    server.signal("TERM");
    let status = server.wait_for_exit(T).expect("exited");
    assert_eq!(status.code(), Some(0));
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(server.log().contains("still busy"), "{}", server.log());
}

#[test]
fn a_second_signal_exits_at_once_with_status_1() {
    let mut server = Server::start(json!({"shutdown_seconds": 60}), &[]);
    let (_conn, _rest) = half_sent_login(&server);
    server.signal("INT");
    server.wait_for_log(T, |log| log.contains("stopping on signal"));
    assert!(server.wait_for_exit(Duration::from_millis(300)).is_none());
    let start = Instant::now();
    server.signal("TERM");
    let status = server.wait_for_exit(T).expect("exited");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{}", server.log());
}

type Ws = tungstenite::WebSocket<common::TlsStream>;

fn module_socket(server: &Server) -> Ws {
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let tls = tls_handshake(tcp, server.cert_pem()).expect("TLS");
    let request = "wss://localhost/websocket"
        .into_client_request()
        .expect("request");
    let (ws, _) = tungstenite::client::client(request, tls).expect("upgrade");
    ws.get_ref()
        .get_ref()
        .set_read_timeout(Some(T))
        .expect("timeout");
    ws
}

/// The close code the platform sends, reading past other frames.
fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    }
}

#[test]
fn modules_hear_1001_going_away_on_sigterm() {
    let mut server = hub(json!({}));
    let mut signed = module_socket(&server);
    let s = signer("ListServ");
    let id = sse_platform::module_client::uuid4();
    let start = json!({"type": "module_start", "module_name": "ListServ", "port": 8011});
    let serde_json::Value::Object(inner) = start else {
        unreachable!()
    };
    signed
        .send(tungstenite::Message::text(s.envelope(inner, &id)))
        .expect("send");
    let reply = loop {
        if let tungstenite::Message::Text(t) = signed.read().expect("reply") {
            break common::hub::parse(t.as_str());
        }
    };
    assert_eq!(reply["resolve_id"], json!(id), "{reply}");
    let mut anonymous = module_socket(&server);
    server.signal("TERM");
    assert_eq!(close_code(&mut signed), Some(CloseCode::Away));
    assert_eq!(close_code(&mut anonymous), Some(CloseCode::Away));
    let status = server.wait_for_exit(T).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

#[test]
fn sighup_swaps_the_certificate_for_new_clients_while_an_old_connection_keeps_working() {
    let server = Server::start(json!({}), &[]);
    let old_pem = server.cert_pem().to_owned();
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut old = server.raw_tls();
    assert_eq!(old.roundtrip(request).status, 200);

    let (cert, key) = self_signed_cert();
    std::fs::write(server.dir().join("cert.pem"), &cert).expect("cert");
    std::fs::write(server.dir().join("key.pem"), &key).expect("key");
    server.signal("HUP");
    server.wait_for_log(T, |log| log.contains("reloaded the TLS certificate"));
    let connect = |pem: &str| {
        let tcp = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        tls_handshake(tcp, pem).map(common::RawConn::new)
    };
    let mut fresh = connect(&cert).expect("a new client trusts the new certificate");
    assert_eq!(fresh.roundtrip(request).status, 200);
    assert!(
        connect(&old_pem).is_err(),
        "the old certificate is still served"
    );
    assert_eq!(
        old.roundtrip(request).status,
        200,
        "the old connection works"
    );

    // A broken key: the warning names the file, the new pair stays.
    std::fs::write(server.dir().join("key.pem"), "not a key").expect("key");
    server.signal("HUP");
    let log = server.wait_for_log(T, |log| log.contains("not reloaded"));
    assert!(log.contains("key.pem"), "{log}");
    assert_eq!(
        connect(&cert)
            .expect("still served")
            .roundtrip(request)
            .status,
        200
    );
    assert_eq!(old.roundtrip(request).status, 200);
}
