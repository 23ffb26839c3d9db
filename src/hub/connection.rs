//! One module's WebSocket connection, on its connection thread.
//!
//! Handshake: the original module client sends a GET with a JSON body
//! (`{"type":"module_socket_connect","module":...}`), which tungstenite's
//! own `accept` rejects, so the head is parsed by the listener, the body
//! consumed here, and the 101 written by hand (docs/design.md, pitfall 1).
//! Nothing in the handshake is trusted; the name in it labels logs and, if
//! that module has a key, asks for broadcasts to be held until the
//! connection signs as it (`peers`).
//!
//! Then one poll loop waits on the socket and the connection's eventfd:
//! frames in are answered in order, queued broadcasts go out as soon as the
//! eventfd fires, a ping goes out every `ping_interval`, and a connection
//! silent for `ping_timeout` is closed. A connection that has not signed a
//! valid envelope within `auth_timeout` is closed too (the original clients
//! sign their first request at once), and unauthenticated connections have
//! their own cap (`Hub::admit_unauthenticated`). A connection that named a
//! module with a key may wait up to `hub_hold_seconds` instead, if longer:
//! the original's 2021-01 client reconnects and signs only when it needs
//! to, and what is held for it must not be cut short by the deadline.

use super::handlers::{self, Outcome};
use super::peers::{HoldLimits, Peer};
use crate::audit::{Actor, Entry};
use crate::ctx::Ctx;
use crate::listener::slots::{Phase, Slot};
use crate::logger;
use crate::net::head::Head;
use crate::net::poll;
use crate::net::response::{reply_and_close, request_id};
use crate::net::transport::Transport;
use serde_json::{json, Value};
use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

/// Handshake bodies beyond this are refused; the original's is ~60 bytes.
const MAX_HANDSHAKE_BODY: usize = 64 * 1024;
/// Queued output (bytes) above which no more queued messages are taken.
const HIGH_WATER: usize = 256 * 1024;
/// Hard cap on one message, far above the soft `max_frame_bytes` limit: a
/// message between the two gets an error reply and the connection lives.
const HARD_LIMIT_FACTOR: usize = 16;

/// The connection's state after the handshake.
pub struct Connection<'a> {
    pub ctx: &'a Arc<Ctx>,
    pub peer: Arc<Peer>,
    pub addr: SocketAddr,
    /// Bad messages in a row.
    pub(super) bad: u32,
    /// Whether the module's registration is settled: it sent
    /// `module_start`, or its last one was looked up (`registrations`).
    pub registration_known: bool,
    /// Whether what was held for it has been sent.
    released: bool,
    /// Its place among the unauthenticated connections, held until the
    /// first valid envelope.
    unauthenticated: Option<Slot>,
    slot: &'a Slot,
}

pub fn serve(
    ctx: &Arc<Ctx>,
    mut client: Transport,
    head: Head,
    rest: Vec<u8>,
    addr: SocketAddr,
    slot: &Slot,
) {
    slot.set(Phase::UnauthenticatedModule);
    // This thread serves only this connection: every line it writes is
    // about it.
    let conn_id = request_id();
    let _scope = logger::scope("conn_id", conn_id.clone());
    // Before anything of the handshake: a foreign page gets no upgrade.
    if !super::origin::allowed(&head, ctx.dev, &ctx.config.hub.allowed_origins) {
        log::info!("{addr} refused: its Origin is not one of ours");
        let entry = Entry::new(Actor::Anonymous, "websocket_upgrade");
        let entry = entry.address(addr.ip().to_string());
        ctx.audit.record(entry.refused("origin_not_allowed"));
        return reply_and_close(client, 403, "origin_not_allowed");
    }
    let deadline = Instant::now() + ctx.config.header_timeout;
    let (body, leftover) = match read_body(&mut client, &head, rest, deadline) {
        Ok(parts) => parts,
        Err((status, reason)) => return reply_and_close(client, status, reason),
    };
    let Some(key) = head.header("sec-websocket-key") else {
        return reply_and_close(client, 400, "websocket_key_missing");
    };
    let Some(unauthenticated) = ctx
        .hub
        .admit_unauthenticated(addr.ip(), client.shared_socket())
    else {
        return reply_and_close(client, 503, "too_many_unauthenticated_connections");
    };
    let named = named_module(ctx, &head, &body);
    let hint = named.clone().unwrap_or_else(|| "?".into());
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    client.queue(
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
            .as_bytes(),
    );
    let hold = HoldLimits {
        messages: ctx.config.hub.hold_messages,
        age: ctx.config.hub.hold,
    };
    let auth_timeout = match named {
        Some(_) => ctx.config.hub.auth_timeout.max(hold.age),
        None => ctx.config.hub.auth_timeout,
    };
    let peer = match ctx
        .hub
        .peers
        .add(conn_id, ctx.config.hub.queue_len, named, hold)
    {
        Ok(peer) => peer,
        Err(e) => return log::error!("cannot set up a connection: {e}"),
    };
    log::info!("{addr} connected (says it is '{hint}')");
    let limit = ctx.config.hub.max_frame_bytes * HARD_LIMIT_FACTOR;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    // Boxed for the same reason as the TLS state (see `Transport`).
    let ws = Box::new(WebSocket::from_partially_read(
        client,
        leftover,
        Role::Server,
        Some(config),
    ));
    let mut conn = Connection {
        ctx,
        peer: peer.clone(),
        addr,
        bad: 0,
        registration_known: false,
        released: false,
        unauthenticated: Some(unauthenticated),
        slot,
    };
    let why = conn.run(ws, auth_timeout);
    ctx.hub.peers.remove(peer.id);
    super::registrations::release(ctx, peer.id);
    log::info!("{addr} ({}) disconnected: {why}", peer.name());
    if let Some(module) = peer.module.get() {
        let entry = Entry::new(Actor::Module(module.clone()), "module_disconnected");
        ctx.audit.record(entry.address(addr.ip().to_string()));
    }
}

/// An HTTP status and reason word for a refused handshake.
type Refusal = (u16, &'static str);

/// Consumes exactly Content-Length bytes after the head (capped); returns
/// the body and the bytes after it (early WebSocket frames).
fn read_body(
    client: &mut Transport,
    head: &Head,
    mut buf: Vec<u8>,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    let len = head
        .body_length()
        .map_err(|_| (400u16, "malformed_request"))?;
    if len > MAX_HANDSHAKE_BODY {
        return Err((413, "request_body_too_large"));
    }
    // On the heap: stack touched here would stay resident for the connection.
    let mut chunk = vec![0u8; 4096];
    while buf.len() < len {
        match client.read(&mut chunk) {
            Ok(0) => return Err((400, "malformed_request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let now = Instant::now();
                if now >= deadline {
                    return Err((408, "request_timeout"));
                }
                let mut fds = [poll::watch(client.socket(), true, false)];
                poll::wait(&mut fds, deadline - now).map_err(|_| (400u16, "malformed_request"))?;
            }
            Err(_) => return Err((400, "malformed_request")),
        }
    }
    let leftover = buf.split_off(len);
    Ok((buf, leftover))
}

/// The module name the client claims (body or `?module=`), if that module
/// has a key; a name with no key is not repeated (it is whatever the client
/// typed).
fn named_module(ctx: &Ctx, head: &Head, body: &[u8]) -> Option<String> {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("module").and_then(Value::as_str).map(str::to_owned));
    let from_query = head.target.split_once('?').and_then(|(_, q)| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("module="))
            .map(str::to_owned)
    });
    from_body
        .or(from_query)
        .filter(|name| ctx.hub.keys.get(name).is_some())
}

impl Connection<'_> {
    fn run(&mut self, mut ws: Box<WebSocket<Transport>>, auth_timeout: Duration) -> String {
        let hub = &self.ctx.config.hub;
        let mut last_heard = Instant::now();
        let mut last_ping = Instant::now();
        let auth_deadline = Instant::now() + auth_timeout;
        loop {
            if let Err(why) = self.read_frames(&mut ws, &mut last_heard) {
                return why;
            }
            if self.unauthenticated.is_some() {
                if self.peer.module.get().is_some() {
                    self.unauthenticated = None;
                    self.slot.set(Phase::Module);
                } else if Instant::now() >= auth_deadline {
                    let _ = ws.close(Some(CloseFrame {
                        code: tungstenite::protocol::frame::coding::CloseCode::Policy,
                        reason: "no valid signed message in time".into(),
                    }));
                    let _ = ws.flush();
                    return "no valid signed message in time".into();
                }
            }
            if self.peer.is_leaving() {
                let _ = ws.close(Some(CloseFrame {
                    code: tungstenite::protocol::frame::coding::CloseCode::Away,
                    reason: "platform stopping".into(),
                }));
                let _ = ws.flush();
                return "platform stopping".into();
            }
            if self.peer.is_kicked() {
                let _ = ws.close(Some(CloseFrame {
                    code: tungstenite::protocol::frame::coding::CloseCode::Policy,
                    reason: "disconnected by the platform".into(),
                }));
                let _ = ws.flush();
                return "kicked".into();
            }
            self.peer.clear_signal();
            // Take messages only while the socket keeps up: what stays queued
            // counts against the queue's cap, which is how a stuck module is
            // detected.
            while ws.get_ref().pending() <= HIGH_WATER {
                let Some(msg) = self.peer.pop() else { break };
                if let Err(e) = ws.write(Message::Text(msg)) {
                    return format!("write failed: {e}");
                }
            }
            let now = Instant::now();
            if now.duration_since(last_heard) >= hub.ping_timeout {
                return "no answer to pings".into();
            }
            if now.duration_since(last_ping) >= hub.ping_interval {
                let _ = ws.write(Message::Ping(Default::default()));
                last_ping = now;
            }
            match ws.flush() {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return format!("flush failed: {e}"),
            }
            let more_queued = self.peer.has_queued() && ws.get_ref().pending() <= HIGH_WATER;
            let next = match self.unauthenticated {
                Some(_) => auth_deadline.min(last_ping + hub.ping_interval),
                None => last_ping + hub.ping_interval,
            };
            let wait = if more_queued {
                Duration::ZERO
            } else {
                next.saturating_duration_since(Instant::now())
            };
            let sock = ws.get_ref();
            let mut fds = [
                poll::watch(sock.socket(), true, sock.wants_write()),
                poll::watch(self.peer.wake_fd(), true, false),
            ];
            if let Err(e) = poll::wait(&mut fds, wait.max(Duration::from_millis(1))) {
                return format!("poll failed: {e}");
            }
        }
    }

    /// Reads and answers every frame available now.
    fn read_frames(
        &mut self,
        ws: &mut WebSocket<Transport>,
        last_heard: &mut Instant,
    ) -> Result<(), String> {
        loop {
            let msg = match ws.read() {
                Ok(msg) => msg,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok(())
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Err("closed".into())
                }
                Err(e) => return Err(format!("read failed: {e}")),
            };
            *last_heard = Instant::now();
            let text = match msg {
                Message::Text(text) => text,
                Message::Binary(bytes) => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => text.into(),
                    Err(_) => {
                        self.reply(ws, json!({"type": "message_format_error", "description": "binary frames must hold UTF-8 JSON"}))?;
                        continue;
                    }
                },
                Message::Close(_) => return Err("closed by the module".into()),
                _ => continue,
            };
            let outcome = handlers::handle(self, text.as_str());
            self.send_held(ws)?;
            match outcome {
                Outcome::Reply(reply) => {
                    self.bad = 0;
                    self.reply(ws, reply)?;
                }
                Outcome::Silent => self.bad = 0,
                Outcome::Bad(reply) => {
                    self.bad += 1;
                    self.reply(ws, reply)?;
                    if self.bad >= self.ctx.config.hub.max_bad_messages {
                        return Err(format!("{} bad messages in a row", self.bad));
                    }
                }
            }
        }
    }

    /// Once the connection has authenticated: sends what was held for it,
    /// in order, before the reply to its first valid envelope.
    fn send_held(&mut self, ws: &mut WebSocket<Transport>) -> Result<(), String> {
        if self.released {
            return Ok(());
        }
        let Some(module) = self.peer.module.get() else {
            return Ok(());
        };
        self.released = true;
        let held = self.peer.release(module);
        let permissions = &self.ctx.hub.permissions;
        let Some(to) = self.peer.audience(permissions) else {
            return Ok(());
        };
        if !held.is_empty() {
            log::info!(
                "{} ({module}): sending {} held broadcasts",
                self.addr,
                held.len()
            );
        }
        for event in held {
            if let Some(text) = event.render(&to) {
                ws.write(Message::text(text))
                    .map_err(|e| format!("write failed: {e}"))?;
            }
        }
        Ok(())
    }

    fn reply(&self, ws: &mut WebSocket<Transport>, reply: Value) -> Result<(), String> {
        // Every reply carries `resolve_id`, `null` when the message's own
        // could not be read: the original client looks it up in every reply
        // it does not handle itself, and a missing key ends its read loop.
        let mut reply = reply;
        if let Value::Object(fields) = &mut reply {
            fields.entry("resolve_id").or_insert(Value::Null);
        }
        ws.write(Message::text(reply.to_string()))
            .map_err(|e| format!("write failed: {e}"))
    }
}
