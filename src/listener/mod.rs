//! The front door: one TCP port for HTTPS and the module WebSocket.
//!
//! An accept loop on a `std::net::TcpListener` gives each connection its own
//! thread, counted against a global and a per-address cap (see `slots`:
//! over the per-address cap a connection is closed at once; at the global
//! cap one that has done less makes room). The thread does TLS, reads the first
//! request head, then serves a module's WebSocket session itself or bridges
//! HTTP to tiny_http (see `bridge`). See docs in ../../ARCHITECTURE.md.

mod answer;
mod backends;
mod bridge;
mod connection;
pub mod slots;

use crate::config::Config;
use crate::ctx::Ctx;
pub use backends::Backends;
use slots::{PerAddress, Slots};
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// Stack of a connection thread: its work is parsing and TLS, not recursion.
pub(crate) const CONNECTION_STACK: usize = 256 * 1024;

/// Per-connection limits, from the config.
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

impl Limits {
    pub fn from_config(c: &Config) -> Self {
        Limits {
            header_timeout: c.header_timeout,
            body_timeout: c.body_timeout,
            idle_timeout: c.idle_timeout,
            max_body_bytes: c.max_body_bytes,
            trusted_proxies: c.trusted_proxies.clone(),
        }
    }
}

/// Accepts connections forever. An accept error (EMFILE, ECONNABORTED) is
/// logged and followed by a short pause, never by leaving the loop.
pub fn run(ctx: Arc<Ctx>, listener: TcpListener, backend: Arc<Backends>) {
    let slots = Slots::new(
        ctx.config.max_connections,
        ctx.config.max_connections_per_ip,
    );
    let limits = Arc::new(Limits::from_config(&ctx.config));
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
        let rule = if limits.trusted_proxies.contains(&peer.ip()) {
            PerAddress::Uncapped
        } else {
            PerAddress::Capped
        };
        let tcp = Arc::new(tcp);
        let Some(slot) = Slots::acquire(&slots, peer.ip(), rule, tcp.clone()) else {
            log::info!("{} over the connection cap, closed", peer.ip());
            continue;
        };
        let (ctx, backend, limits) = (ctx.clone(), backend.clone(), limits.clone());
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .stack_size(CONNECTION_STACK)
            .spawn(move || connection::serve(&ctx, tcp, peer, &backend, &limits, slot));
        if let Err(e) = spawned {
            log::error!("cannot start a connection thread: {e}");
        }
    }
}
