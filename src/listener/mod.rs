//! The front door: one TCP port for HTTPS and the module WebSocket.
//!
//! An accept loop on a `std::net::TcpListener` gives each connection its own
//! thread, counted against a global and a per-address cap (over the cap the
//! connection is closed at once). The thread does TLS, reads the first
//! request head, then serves a module's WebSocket session itself or bridges
//! HTTP to tiny_http (see `bridge`). See docs in ../../ARCHITECTURE.md.

mod answer;
mod bridge;
mod connection;
pub mod head;
pub mod poll;
pub mod tls;
pub mod transport;

pub use bridge::reply_and_close;

use crate::config::Config;
use crate::ctx::Ctx;
use crate::sync::lock;
use std::collections::HashMap;
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Stack of a connection thread: its work is parsing and TLS, not recursion.
pub(crate) const CONNECTION_STACK: usize = 256 * 1024;

/// Per-connection limits, from the config.
#[derive(Clone, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

impl Limits {
    pub fn from_config(c: &Config) -> Self {
        Limits {
            header_timeout: c.header_timeout,
            idle_timeout: c.idle_timeout,
            max_body_bytes: c.max_body_bytes,
            trusted_proxies: c.trusted_proxies.clone(),
        }
    }
}

/// Accepts connections forever. An accept error (EMFILE, ECONNABORTED) is
/// logged and followed by a short pause, never by leaving the loop.
pub fn run(ctx: Arc<Ctx>, listener: TcpListener, backend: Arc<Path>) {
    let caps = Arc::new(Caps::new(
        ctx.config.max_connections,
        ctx.config.max_connections_per_ip,
    ));
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
        let proxy = limits.trusted_proxies.contains(&peer.ip());
        let Some(slot) = Caps::acquire(&caps, peer.ip(), proxy) else {
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

/// Open connections, in total and per client address.
struct Caps {
    max: usize,
    max_per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A connection's place under the caps, given back when dropped (also when
/// its thread panics).
pub(crate) struct Slot {
    caps: Arc<Caps>,
    ip: IpAddr,
}

impl Caps {
    fn new(max: usize, max_per_ip: usize) -> Self {
        Caps {
            max,
            max_per_ip,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    fn acquire(caps: &Arc<Caps>, ip: IpAddr, uncapped_ip: bool) -> Option<Slot> {
        let mut open = lock(&caps.open);
        let per_ip = open.1.get(&ip).copied().unwrap_or(0);
        if open.0 >= caps.max || (per_ip >= caps.max_per_ip && !uncapped_ip) {
            return None;
        }
        open.0 += 1;
        open.1.insert(ip, per_ip + 1);
        Some(Slot {
            caps: caps.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.caps.open);
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

/// A complete HTTP/1.1 error response, for requests refused before they
/// reach tiny_http; the body is the platform's JSON error shape.
pub fn error_response(status: u16, reason: &str) -> Vec<u8> {
    let body = crate::http::error::error_body(status, reason);
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        crate::http::error::status_text(status),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_total_and_per_ip() {
        let caps = Arc::new(Caps::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = Caps::acquire(&caps, a, false).unwrap();
        let _a2 = Caps::acquire(&caps, a, false).unwrap();
        assert!(Caps::acquire(&caps, a, false).is_none(), "per-ip cap");
        let _b1 = Caps::acquire(&caps, b, false).unwrap();
        assert!(Caps::acquire(&caps, b, false).is_none(), "global cap");
        drop(a1);
        assert!(Caps::acquire(&caps, b, false).is_some());
    }

    #[test]
    fn a_proxy_is_held_only_to_the_total_cap() {
        let caps = Arc::new(Caps::new(3, 1));
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let _p1 = Caps::acquire(&caps, proxy, true).unwrap();
        let _p2 = Caps::acquire(&caps, proxy, true).unwrap();
        let p3 = Caps::acquire(&caps, proxy, true).unwrap();
        assert!(Caps::acquire(&caps, proxy, true).is_none(), "global cap");
        drop(p3);
        assert!(Caps::acquire(&caps, proxy, true).is_some());
    }
}
