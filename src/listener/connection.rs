//! One client connection, from TLS handshake to the first request head;
//! then it becomes either a module's WebSocket session or an HTTP bridge.

use super::slots::Slot;
use super::{bridge, Shared, CONNECTION_STACK};
use crate::metrics::METRICS;
use crate::net::head::{self, Head, Parsed, MAX_HEAD_BYTES};
use crate::net::poll;
use crate::net::response::reply_and_close;
use crate::net::transport::Transport;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

/// Serves a connection; `slot` is its place under the connection caps, held
/// until the connection ends (on whichever thread that is).
pub(super) fn serve(shared: &Shared, tcp: Arc<TcpStream>, peer: SocketAddr, slot: Slot) {
    let limits = &shared.limits;
    let _ = tcp.set_nodelay(true);
    let mut client = match Transport::new(tcp, shared.tls.as_ref()) {
        Ok(t) => t,
        Err(e) => return log::debug!("{peer}: setup failed: {e}"),
    };
    // One absolute deadline for the handshake and the whole first head, so a
    // client that trickles bytes cannot hold this thread (docs/design.md, pitfall 2).
    let deadline = Instant::now() + limits.header_timeout;
    match first_head(&mut client, deadline) {
        Ok(Some((head, rest))) if head.is_websocket_upgrade() && head.path() == "/websocket" => {
            let peer = head.client(peer, &limits.trusted_proxies);
            serve_module_on_fresh_thread(shared, client, head, rest, peer, slot);
        }
        Ok(Some((head, rest))) => {
            let _open = METRICS.http_connections.hold();
            bridge::run(client, &shared.backend, head, rest, peer, limits, &slot)
        }
        Ok(None) => client.close(),
        Err(FirstHeadError::Malformed) => reply_and_close(client, 400, "malformed_request"),
        Err(FirstHeadError::TooLarge) => reply_and_close(client, 431, "request_header_too_large"),
        Err(FirstHeadError::Io(e)) => log::debug!("{peer}: {e}"),
    }
}

/// A module's connection stays open for days, mostly idle. The TLS
/// handshake touched ~36 KiB of this thread's stack, which would stay
/// resident all that time; a fresh thread starts with almost none of it.
fn serve_module_on_fresh_thread(
    shared: &Shared,
    client: Transport,
    head: Head,
    rest: Vec<u8>,
    peer: SocketAddr,
    slot: Slot,
) {
    let websocket = shared.websocket.clone();
    let spawned = std::thread::Builder::new()
        .name("module".into())
        .stack_size(CONNECTION_STACK)
        .spawn(move || websocket(client, head, rest, peer, &slot));
    if let Err(e) = spawned {
        log::error!("cannot start a module thread: {e}");
    }
}

enum FirstHeadError {
    Malformed,
    TooLarge,
    Io(std::io::Error),
}

/// Reads until a complete head; `None` when the client leaves or the
/// deadline passes first.
fn first_head(
    client: &mut Transport,
    deadline: Instant,
) -> Result<Option<(Head, Vec<u8>)>, FirstHeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match client.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                match head::parse(&buf) {
                    // The limit holds however fast the head arrived.
                    Parsed::Complete(head) if head.len > MAX_HEAD_BYTES => {
                        return Err(FirstHeadError::TooLarge)
                    }
                    Parsed::Complete(head) => {
                        let rest = buf.split_off(head.len);
                        return Ok(Some((head, rest)));
                    }
                    Parsed::Invalid => return Err(FirstHeadError::Malformed),
                    Parsed::Partial if buf.len() > MAX_HEAD_BYTES => {
                        return Err(FirstHeadError::TooLarge)
                    }
                    Parsed::Partial => continue,
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(FirstHeadError::Io(e)),
        }
        client.flush().map_err(FirstHeadError::Io)?;
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let mut fds = [poll::watch(client.socket(), true, client.wants_write())];
        poll::wait(&mut fds, deadline - now).map_err(FirstHeadError::Io)?;
    }
}
