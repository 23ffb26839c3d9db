//! The front door: one TCP port for HTTPS and the module WebSocket.
//!
//! An accept loop on a `std::net::TcpListener` gives each connection its own
//! thread, counted against a global and a per-address cap (see `slots`:
//! over the per-address cap a connection is closed at once; at the global
//! cap one that has done less makes room). The thread does TLS, reads the first
//! request head, then hands a module's WebSocket to the handler `server`
//! gave (on a fresh thread) or bridges HTTP to tiny_http (see `bridge`).
//! The listener knows nothing of the platform's state. See ARCHITECTURE.md.

mod answer;
mod backends;
mod bridge;
mod connection;
pub mod slots;

use crate::net::head::Head;
use crate::net::transport::Transport;
pub use backends::Backends;
use slots::{PerAddress, Slot, Slots};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Stack of a connection thread: its work is parsing and TLS, not recursion.
pub(crate) const CONNECTION_STACK: usize = 256 * 1024;

/// Per-connection limits.
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

/// What the listener needs to know; `server` fills it from the config.
pub struct Settings {
    /// `None`: plain TCP (behind a TLS-terminating proxy).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub limits: Limits,
}

/// Takes over a connection whose first head asked for the module
/// WebSocket (`GET /websocket` with `Upgrade`): the client's transport, that
/// head, the bytes read after it, the client's address and its place under
/// the connection caps. It runs on a thread of its own, for as long as the
/// connection lives.
pub type WebSocketHandler = dyn Fn(Transport, Head, Vec<u8>, SocketAddr, &Slot) + Send + Sync;

/// What every connection thread shares.
struct Shared {
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    backend: Arc<Backends>,
    websocket: Arc<WebSocketHandler>,
}

/// Accepts connections forever: HTTP goes through `backend` to tiny_http,
/// a module's WebSocket to `websocket`. An accept error (EMFILE,
/// ECONNABORTED) is logged and followed by a short pause, never by leaving
/// the loop.
pub fn run(
    settings: Settings,
    listener: TcpListener,
    backend: Arc<Backends>,
    websocket: Arc<WebSocketHandler>,
) {
    let slots = Slots::new(settings.max_connections, settings.max_connections_per_ip);
    let shared = Arc::new(Shared {
        tls: settings.tls,
        limits: settings.limits,
        backend,
        websocket,
    });
    loop {
        let (tcp, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // A proxy carries many clients: only the total cap applies to it.
        let rule = if shared.limits.trusted_proxies.contains(&peer.ip()) {
            PerAddress::Uncapped
        } else {
            PerAddress::Capped
        };
        let tcp = Arc::new(tcp);
        let Some(slot) = Slots::acquire(&slots, peer.ip(), rule, tcp.clone()) else {
            log::info!("{} over the connection cap, closed", peer.ip());
            continue;
        };
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || connection::serve(&shared, tcp, peer, slot));
        if let Err(e) = spawned {
            log::error!("cannot start a connection thread: {e}");
        }
    }
}
