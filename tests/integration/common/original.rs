//! Module connections for the protocol tests: one that behaves exactly as
//! the original platform's Python client (`socket_client.py` with
//! `token_cache_client.py`), and protocol-2 connections.
//!
//! The original's `on_message` handles three types itself and resolves
//! every other message by its `resolve_id`; a message it cannot handle
//! raises inside its read loop, after which the module hears nothing until
//! it is restarted. [`OriginalClient`] records that as a crash.

use super::hub::{parse, raw, signer, T};
use super::Server;
use serde_json::{json, Map, Value};
use sse_platform::module_client::{uuid4, Connection, Signer};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct OriginalClient {
    pub conn: Connection,
    signer: Signer,
    /// The token cache: token to (username, email, id, role).
    pub cache: HashMap<String, Value>,
    /// Replies by `resolve_id`, for requests still waiting.
    pending: HashMap<String, Option<Value>>,
    /// Why its read loop died, if it did.
    pub crashed: Option<String>,
    /// Every frame it received, in order.
    pub seen: Vec<Value>,
}

impl OriginalClient {
    /// Connects with the original's handshake body, naming `module`, and
    /// sends nothing (the 2021-01 client after a reconnect).
    pub fn reconnect(server: &Server, module: &str) -> OriginalClient {
        OriginalClient {
            conn: raw(server, module),
            signer: signer(module),
            cache: HashMap::new(),
            pending: HashMap::new(),
            crashed: None,
            seen: Vec::new(),
        }
    }

    /// Connects and sends `module_start` (without `protocol`), as the
    /// original does when it starts.
    pub fn start(server: &Server, module: &str, port: u16) -> OriginalClient {
        let mut c = Self::reconnect(server, module);
        let reply = c.request(json!({"type": "module_start", "module_name": module, "port": port}));
        assert_eq!(reply["success"], true, "{reply}");
        c
    }

    /// The original's `on_message`, after `json.loads`.
    fn on_message(&mut self, text: &str) {
        let msg = parse(text);
        self.seen.push(msg.clone());
        if self.crashed.is_some() {
            return; // its read loop is gone
        }
        let field = |k: &str| msg.get(k).cloned();
        match msg.get("type").and_then(Value::as_str) {
            None => self.crash("KeyError: 'type'", &msg),
            Some("signature_verification_error") => self.crash("signature error raised", &msg),
            Some("user_login") => {
                let keys = ["access_token", "username", "email", "id", "role"];
                if let Some(k) = keys.iter().find(|k| field(k).is_none()) {
                    return self.crash(&format!("KeyError: '{k}'"), &msg);
                }
                let token = msg["access_token"].as_str().unwrap_or_default().to_owned();
                self.cache.insert(token, msg.clone());
            }
            Some("user_logout") => match msg.get("access_token").and_then(Value::as_str) {
                Some(token) => {
                    self.cache.remove(token);
                }
                None => self.crash("KeyError: 'access_token'", &msg),
            },
            Some(_) => match msg.get("resolve_id") {
                None => self.crash("KeyError: 'resolve_id'", &msg),
                Some(id) => {
                    if let Some(slot) = id.as_str().and_then(|id| self.pending.get_mut(id)) {
                        *slot = Some(msg.clone());
                    }
                }
            },
        }
    }

    fn crash(&mut self, why: &str, msg: &Value) {
        self.crashed = Some(format!("{why} on {msg}"));
    }

    /// Reads every frame that arrives within `wait` of the previous one.
    pub fn pump(&mut self, wait: Duration) {
        while let Ok(Some(frame)) = self.conn.recv(wait) {
            self.on_message(&frame);
        }
    }

    pub fn assert_alive(&self) {
        if let Some(why) = &self.crashed {
            panic!("the original client's read loop died: {why}");
        }
    }

    /// Signs and sends `message`, then reads until its reply arrives (or
    /// the read loop dies, or `T` passes).
    pub fn request(&mut self, message: Value) -> Value {
        let id = uuid4();
        let Value::Object(inner) = message else {
            panic!("object")
        };
        self.pending.insert(id.clone(), None);
        self.conn
            .send(self.signer.envelope(inner, &id), T)
            .expect("send");
        let deadline = Instant::now() + T;
        while Instant::now() < deadline {
            self.assert_alive();
            if let Some(Some(reply)) = self.pending.get(&id) {
                let reply = reply.clone();
                self.pending.remove(&id);
                return reply;
            }
            if let Ok(Some(frame)) = self.conn.recv(Duration::from_millis(100)) {
                self.on_message(&frame);
            }
        }
        panic!("no reply to {id} in time; seen {:?}", self.seen)
    }

    /// The types of every frame seen so far.
    pub fn types(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|m| m["type"].as_str().unwrap_or("(none)").to_owned())
            .collect()
    }
}

/// A raw connection that declared protocol 2 in its `module_start`.
pub fn start_v2(server: &Server, module: &str, port: u16) -> Connection {
    let mut conn = raw(server, module);
    let reply = super::hub::signed(
        &mut conn,
        &signer(module),
        json!({"type": "module_start", "module_name": module, "port": port, "protocol": 2}),
    );
    assert_eq!(
        (reply["success"].clone(), reply["protocol"].clone()),
        (json!(true), json!(2)),
        "{reply}"
    );
    conn
}

/// Frames within `wait` of each other, until one matches `want` (which is
/// returned last) or `timeout` passes.
pub fn frames_until(
    conn: &mut Connection,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Ok(Some(frame)) = conn.recv(Duration::from_millis(100)) {
            let v = parse(&frame);
            let done = want(&v);
            got.push(v);
            if done {
                return got;
            }
        }
    }
    panic!("nothing matching in {timeout:?}; got {got:?}")
}

/// SHA-256 of a token, lowercase hex, as `session_ended` names it.
pub fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The message types the original platform sent unasked.
pub const ORIGINAL_UNASKED: [&str; 3] = ["user_login", "user_logout", "user_delete"];

/// Whether an original connection may receive `msg`: a reply (to one of
/// its requests, or a forwarded message) or one of the original's types.
pub fn original_may_receive(msg: &Value) -> bool {
    let kind = msg["type"].as_str().unwrap_or_default();
    ORIGINAL_UNASKED.contains(&kind)
        || kind.ends_with("_response")
        || kind == "message_module"
        || kind.ends_with("_error")
}

/// An object from a `json!` literal, for envelopes.
pub fn object(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Resets `email`'s password through the mailed link; `sink` is the
/// server's SMTP sink and `mails` how many it holds before.
pub fn reset_by_mail(
    server: &Server,
    sink: &super::smtp::SmtpSink,
    mails: usize,
    email: &str,
    new_password: &str,
) {
    let c = server.client();
    let r = c.post_json("/password/forgot", &json!({ "email": email }));
    assert_eq!(r.status, 204, "{}", r.body);
    let mail = sink.wait_for(mails + 1, T).remove(mails);
    let text = mail["text"].as_str().expect("text part");
    let phrase: String = text
        .split("phrase=")
        .nth(1)
        .expect("a link with a phrase")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    c.post_json(
        "/forgot_password",
        &json!({"phrase": phrase, "new_password": new_password}),
    )
    .ok_json();
}
