//! Attacks on the connection slots (items 5 and 6 of the issue): module
//! WebSockets that never sign anything, and idle or half-open TLS
//! connections, all from a few addresses, each under the per-address cap.

use super::attack::{sleep_until, Attack, Outcome, Tally};
use super::net::{connect_from, loopback, Conn};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::protocol::Role;
use tungstenite::WebSocket;

const ADDRESSES: usize = 5;
const OPEN_TIMEOUT: Duration = Duration::from_secs(3);
const UPGRADE: &[u8] = b"GET /websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// Tally slots of the WebSocket attack.
const OPENED: usize = 0;
const CLOSED: usize = 1;
const OPEN_NOW: usize = 2;
const PEAK: usize = 3;
const LONGEST_MS: usize = 4;
const REFUSED: usize = 5;

/// Item 5: plain upgrades to /websocket from 5 addresses that answer pings
/// and sign nothing; a socket the platform closes is opened again after 1 s.
pub fn unsigned_websockets(a: &Attack) -> Outcome {
    let total = a.scale(1100, 100);
    let counts = Tally::new(6);
    std::thread::scope(|s| {
        for i in 0..total {
            let counts = &counts;
            let spawned = std::thread::Builder::new()
                .stack_size(128 << 10)
                .spawn_scoped(s, move || {
                    while !a.over() {
                        hold_websocket(a, loopback(1 + (i % ADDRESSES) as u8), counts);
                        sleep_until(Instant::now() + Duration::from_secs(1), || a.over());
                    }
                });
            if spawned.is_err() {
                counts.add(REFUSED, 1);
            }
        }
    });
    let mut out = Outcome::default();
    out.note(format!(
        "{} upgrades (target {total} open), at most {} open at once, {} closed by the platform, longest held {} s, {} still open at the end",
        counts.get(OPENED), counts.get(PEAK), counts.get(CLOSED), counts.get(LONGEST_MS) / 1000, counts.get(OPEN_NOW)
    ));
    if a.full {
        out.check(
            "unsigned module sockets closed within 20 s",
            counts.get(LONGEST_MS) < 20_000,
        );
    }
    out
}

/// One unsigned module connection, read (answering pings) until the
/// platform closes it or the attack ends.
fn hold_websocket(a: &Attack, from: std::net::Ipv4Addr, counts: &Tally) {
    let Ok(mut conn) = Conn::open(from, a.port(), &a.platform.tls, OPEN_TIMEOUT) else {
        counts.add(REFUSED, 1);
        return;
    };
    let deadline = Instant::now() + OPEN_TIMEOUT;
    if conn.send(UPGRADE).is_err()
        || !matches!(conn.read_response(deadline), Ok(r) if r.status == 101)
    {
        counts.add(REFUSED, 1);
        return;
    }
    let (stream, leftover) = conn.into_parts();
    let _ = stream
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)));
    let mut ws = WebSocket::from_partially_read(stream, leftover, Role::Client, None);
    let opened = Instant::now();
    counts.add(OPENED, 1);
    counts.add(OPEN_NOW, 1);
    counts.max(PEAK, counts.get(OPEN_NOW));
    let closed_by_platform = loop {
        if a.over() {
            break false;
        }
        // tungstenite answers pings itself, on the next read.
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break true,
        }
    };
    counts.max(LONGEST_MS, opened.elapsed().as_millis() as usize);
    if closed_by_platform {
        counts.add(CLOSED, 1);
    }
    counts.sub(OPEN_NOW, 1);
}

/// A connection of item 6, kept only so that its socket stays open.
enum Held {
    /// TLS done, nothing sent.
    Idle(#[allow(dead_code)] Box<Conn>),
    /// TCP open and the first bytes of a TLS record, never the rest.
    HalfOpen(#[allow(dead_code)] TcpStream),
}

/// Item 6: idle TLS connections and half-open handshakes from 5 addresses,
/// each renewed every 8 s (before a 10 s header timeout could end it).
pub fn idle_connections(a: &Attack) -> Outcome {
    let (total, threads_per_address) = (a.scale(1100, 100), 10);
    let threads = ADDRESSES * threads_per_address;
    let counts = Tally::new(4); // opened, failed to open, held now, most held
    std::thread::scope(|s| {
        for t in 0..threads {
            let counts = &counts;
            s.spawn(move || {
                let from = loopback(1 + (t % ADDRESSES) as u8);
                let mut slots: Vec<Option<(Instant, Held)>> =
                    (0..total / threads).map(|_| None).collect();
                while !a.over() {
                    for (k, slot) in slots.iter_mut().enumerate() {
                        if a.over() {
                            break;
                        }
                        if slot
                            .as_ref()
                            .is_some_and(|(at, _)| at.elapsed() < Duration::from_secs(8))
                        {
                            continue;
                        }
                        if slot.take().is_some() {
                            counts.sub(2, 1);
                        }
                        *slot = open_held(a, from, k % 2 == 0).map(|h| (Instant::now(), h));
                        if slot.is_some() {
                            counts.add(0, 1);
                            counts.add(2, 1);
                            counts.max(3, counts.get(2));
                        } else {
                            counts.add(1, 1);
                        }
                    }
                    sleep_until(Instant::now() + Duration::from_millis(200), || a.over());
                }
            });
        }
    });
    let mut out = Outcome::default();
    out.note(format!(
        "{} connections opened, {} failed to open; at most {} of {total} held at once (half idle TLS, half half-open), renewed every 8 s",
        counts.get(0),
        counts.get(1),
        counts.get(3)
    ));
    out
}

fn open_held(a: &Attack, from: std::net::Ipv4Addr, tls: bool) -> Option<Held> {
    if tls {
        return Conn::open(from, a.port(), &a.platform.tls, OPEN_TIMEOUT)
            .ok()
            .map(|c| Held::Idle(Box::new(c)));
    }
    let mut tcp = connect_from(from, a.port(), OPEN_TIMEOUT).ok()?;
    // A handshake record header announcing 512 bytes that never come.
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).ok()?;
    Some(Held::HalfOpen(tcp))
}
