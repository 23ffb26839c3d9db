//! Helpers for the hub tests: a server with the vector modules' keys, raw
//! WebSocket connections that sign as a module, and the module client.
//! Every frame they hand to a test has been checked against docs/schemas
//! (see `schemas`).

pub use super::schemas::checked;
use super::{merged, vectors, Server};
use serde_json::{json, Value};
use sse_platform::module_client::{uuid4, Connection, Options, Signer, Target};
use std::time::Duration;

pub const T: Duration = Duration::from_secs(5);

pub fn seed(module: &str) -> String {
    vectors()["modules"][module]["signing_key_file"]
        .as_str()
        .expect("seed")
        .to_owned()
}

pub fn signer(module: &str) -> Signer {
    Signer::new(module, &seed(module)).expect("signer")
}

/// A server whose verify_keys.json holds the three vector modules.
pub fn hub(extra: Value) -> Server {
    let config = merged(json!({"verify_keys": vectors()["verify_keys_json"]}), extra);
    Server::start(config, &["--create_admin"])
}

pub fn target(server: &Server) -> Target {
    Target {
        url: format!("wss://127.0.0.1:{}/websocket", server.port),
        ca_pem: Some(server.cert_pem().as_bytes().to_vec()),
        timeout: T,
    }
}

/// A raw connection opened with the original client's GET-with-body.
pub fn raw(server: &Server, module: &str) -> Connection {
    let body = json!({"type": "module_socket_connect", "module": module}).to_string();
    Connection::open(&target(server), Some(&body)).expect("connect")
}

/// A frame received from the platform, checked against the schema of its
/// type.
pub fn parse(text: &str) -> Value {
    checked(serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

/// Sends `text` and returns the next frame that carries `resolve_id` (or,
/// if `resolve_id` is None, the next frame).
pub fn exchange(conn: &mut Connection, text: String, resolve_id: Option<&str>) -> Value {
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
pub fn signed(conn: &mut Connection, signer: &Signer, message: Value) -> Value {
    let id = uuid4();
    let Value::Object(inner) = message else {
        panic!("object")
    };
    exchange(conn, signer.envelope(inner, &id), Some(&id))
}

pub fn start_module(conn: &mut Connection, module: &str, port: u16) -> Value {
    signed(
        conn,
        &signer(module),
        json!({"type": "module_start", "module_name": module, "port": port}),
    )
}

pub fn options(server: &Server, module: &str, port: u16) -> Options {
    Options {
        url: target(server).url,
        module: module.into(),
        signing_key: seed(module),
        port,
        public_url: None,
        ca_pem: Some(server.cert_pem().as_bytes().to_vec()),
        timeout: T,
        revalidate_after: Options::REVALIDATE_AFTER,
    }
}

pub fn running(server: &Server, token: &str) -> Value {
    server
        .client()
        .token(token)
        .get("/execution/running")
        .ok_json()["running_modules"]
        .clone()
}

/// Frames that arrive within `wait`.
pub fn drain(conn: &mut Connection, wait: Duration) -> Vec<Value> {
    let mut got = Vec::new();
    while let Ok(Some(frame)) = conn.recv(wait) {
        got.push(parse(&frame));
    }
    got
}
