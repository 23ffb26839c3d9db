//! The front door: one TCP port for HTTPS and the module WebSocket.
//!
//! An accept loop on a `std::net::TcpListener` gives each connection its own
//! thread, counted against a global and a per-address cap (see `slots`:
//! over the per-address cap a connection is closed at once; at the global
//! cap one that has done less makes room). The thread does TLS, reads the first
//! request head, then hands a module's WebSocket to the handler `server`
//! gave (on a fresh thread) or bridges HTTP to tiny_http (see `bridge`).
//! The listener knows nothing of the platform's state. See ARCHITECTURE.md.

/// Pub, with the bridge's framing, for fuzz/entries.rs.
pub mod answer;
mod backends;
mod bridge;
mod connection;
pub mod slots;

use crate::net::head::Head;
use crate::net::transport::Transport;
pub use backends::Backends;
pub use bridge::{body_of, frame_head, Framed, Reject};
use slots::{PerAddress, Slot, Slots};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Ends the accept loop from another thread (a signal's): the listening
/// socket is shut down, which refuses new connections and wakes `accept`.
#[derive(Clone)]
pub struct Stop {
    stopping: Arc<AtomicBool>,
    socket: Arc<TcpListener>,
}

impl Stop {
    pub fn new(listener: &TcpListener) -> std::io::Result<Stop> {
        Ok(Stop {
            stopping: Arc::new(AtomicBool::new(false)),
            socket: Arc::new(listener.try_clone()?),
        })
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Err(e) = rustix::net::shutdown(&*self.socket, rustix::net::Shutdown::Read) {
            log::warn!("cannot shut the listening socket: {e}");
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Accepts connections until `stop`: HTTP goes through `backend` to
/// tiny_http, a module's WebSocket to `websocket`. An accept error (EMFILE,
/// ECONNABORTED) is logged and followed by a short pause, never by leaving
/// the loop. Returns the open connections, for `drain`.
pub fn run(
    settings: Settings,
    listener: TcpListener,
    backend: Arc<Backends>,
    websocket: Arc<WebSocketHandler>,
    stop: &Stop,
) -> Arc<Slots> {
    let slots = Slots::new(settings.max_connections, settings.max_connections_per_ip);
    let shared = Arc::new(Shared {
        tls: settings.tls,
        limits: settings.limits,
        backend,
        websocket,
    });
    loop {
        if stop.is_stopped() {
            return slots;
        }
        let (tcp, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) if stop.is_stopped() => return slots,
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

/// After `run` returned: waits until no connection carries a request or a
/// module, for at most `limit`, closing idle keep-alive connections as they
/// become idle; `each_round` runs every round (the hub's close frames, for
/// modules that connected meanwhile). Returns how many were still busy.
pub fn drain(slots: &Slots, limit: Duration, mut each_round: impl FnMut()) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        each_round();
        let busy = slots.close_idle();
        if busy == 0 || Instant::now() >= deadline {
            return busy;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
