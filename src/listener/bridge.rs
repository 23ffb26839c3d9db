//! The HTTP bridge: bytes between a client connection and tiny_http, which
//! listens on a private Unix socket.
//!
//! The bridge frames requests itself (head, then exactly Content-Length body
//! bytes), which lets it give every request a header deadline, refuse bodies
//! over the limit before reading them, and tell tiny_http the client's
//! address in a header no client can forge. One thread, one poll loop: both
//! sockets are non-blocking, and nothing is read while the other side lags.

use super::answer::{Answers, Peeked};
use super::head::{self, Head, Parsed, MAX_HEAD_BYTES};
use super::transport::{write_some, Transport};
use super::{poll, Limits};
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;

/// How long a refused request's remaining bytes are read and dropped.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// How long an answer may be missing before tiny_http's pool is poked (see
/// `poke_if_stuck`), and how often again while it stays missing.
const POKE_AFTER: std::time::Duration = std::time::Duration::from_millis(20);
const POKE_AGAIN: std::time::Duration = std::time::Duration::from_millis(100);

/// Bytes buffered in either direction before the bridge stops reading.
const HIGH_WATER: usize = 256 * 1024;

/// Why the bridge answers a request itself instead of forwarding it.
#[derive(Debug, Clone, Copy)]
enum Reject {
    BadRequest,
    LengthRequired,
    TooLarge,
    HeadTooLarge,
}

impl Reject {
    fn status_reason(self) -> (u16, &'static str) {
        match self {
            Reject::BadRequest => (400, "malformed_request"),
            Reject::LengthRequired => (411, "length_required"),
            Reject::TooLarge => (413, "request_body_too_large"),
            Reject::HeadTooLarge => (431, "request_header_too_large"),
        }
    }
}

struct Bridge<'a> {
    client: Transport,
    backend: UnixStream,
    backend_path: &'a Path,
    peer: SocketAddr,
    limits: &'a Limits,
    /// Client bytes not yet framed.
    inbuf: Vec<u8>,
    to_backend: Vec<u8>,
    body_left: usize,
    /// When the first byte of a still incomplete head arrived.
    head_started: Option<Instant>,
    last_activity: Instant,
    client_eof: bool,
    backend_eof: bool,
    rejected: bool,
    /// Since when a forwarded request has had no answer at all.
    awaiting: Option<Instant>,
    last_poke: Option<Instant>,
    answers: Answers,
}

/// Serves one HTTP connection whose first head is `first`; `rest` holds the
/// bytes read after it.
pub fn run(
    client: Transport,
    backend_path: &Path,
    first: Head,
    rest: Vec<u8>,
    peer: SocketAddr,
    limits: &Limits,
) {
    let backend =
        match UnixStream::connect(backend_path).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                log::error!("cannot reach the HTTP backend: {e}");
                return reply_and_close(client, 503, "server_unavailable");
            }
        };
    let mut bridge = Bridge {
        client,
        backend,
        backend_path,
        peer,
        limits,
        inbuf: rest,
        to_backend: Vec::new(),
        body_left: 0,
        head_started: None,
        last_activity: Instant::now(),
        client_eof: false,
        backend_eof: false,
        rejected: false,
        awaiting: None,
        last_poke: None,
        answers: Answers::new(),
    };
    let framed = bridge.forward(first).and_then(|()| bridge.frame());
    if let Err(reject) = framed {
        bridge.reject(reject);
    }
    if let Err(e) = bridge.pump() {
        log::debug!("{peer}: connection ended: {e}");
    }
    if bridge.rejected {
        bridge.client.close_lingering(LINGER);
    } else {
        bridge.client.close();
    }
}

impl Bridge<'_> {
    fn pump(&mut self) -> std::io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        // Whether a read may find something: a socket is read only after poll
        // said so, which saves a failing read per socket and request.
        let (mut client_ready, mut backend_ready) = (true, true);
        let mut backend_closed = false;
        loop {
            if self.reads_client() && client_ready {
                self.read_client(&mut buf)?;
            }
            let sent = write_some_all(&mut self.backend, &mut self.to_backend)?;
            // Right after a request went out tiny_http's thread is awake, so
            // reading the parked answer now wakes nobody (see answer.rs).
            if self.answers.parked() > 0 && (sent || backend_closed) {
                self.unpark(&mut buf)?;
            }
            if self.reads_backend() && backend_ready {
                self.read_backend(&mut buf)?;
            }
            self.client.flush()?;
            if self.finished() {
                return Ok(());
            }
            let deadline = self.deadline();
            let now = Instant::now();
            if now >= deadline {
                log::debug!("{}: timed out", self.peer);
                return Ok(());
            }
            let wake = self
                .poke_if_stuck(now)
                .map_or(deadline, |t| t.min(deadline));
            let (watch_client, watch_backend) = (self.reads_client(), self.reads_backend());
            let mut fds = [
                poll::watch(
                    self.client.socket(),
                    watch_client,
                    self.client.wants_write(),
                ),
                poll::watch(&self.backend, watch_backend, !self.to_backend.is_empty()),
            ];
            poll::wait(&mut fds, wake.saturating_duration_since(now))?;
            // A side that was not watched may hold data (TLS buffers it when
            // backpressure stopped the reading): try it again.
            client_ready = !watch_client || poll::readable(&fds[0]);
            backend_ready = !watch_backend || poll::readable(&fds[1]);
            // Reported even unwatched: tiny_http ended the connection.
            backend_closed = poll::hung_up(&fds[1]);
        }
    }

    /// tiny_http 0.12's thread pool can queue a new connection although no
    /// thread will take it: `spawn` counts a thread as waiting until that
    /// thread has run again, so two connections arriving while one thread
    /// waits leave the second queued until some connection ends (and every
    /// bridged connection holds a pool thread while it lives). Opening and
    /// closing an empty connection frees it: tiny_http then starts a thread
    /// (or wakes a waiting one), which runs the queued connection next.
    /// Done while an answer is overdue; returns when to check again.
    fn poke_if_stuck(&mut self, now: Instant) -> Option<Instant> {
        let since = self.awaiting?;
        let due = match self.last_poke {
            None => since + POKE_AFTER,
            Some(last) => last + POKE_AGAIN,
        };
        if now < due {
            return Some(due);
        }
        // A failed connect changes nothing: the next check tries again.
        drop(UnixStream::connect(self.backend_path));
        self.last_poke = Some(now);
        Some(now + POKE_AGAIN)
    }

    fn reads_client(&self) -> bool {
        !self.client_eof && !self.rejected && self.to_backend.len() < HIGH_WATER
    }

    fn reads_backend(&self) -> bool {
        !self.backend_eof && self.client.pending() < HIGH_WATER && self.answers.parked() == 0
    }

    fn finished(&self) -> bool {
        let flushed = !self.client.wants_write();
        (self.backend_eof || self.rejected) && flushed
    }

    /// Until a started head completes, the header timeout; while a body
    /// trickles in, the same between bytes; otherwise the idle timeout.
    fn deadline(&self) -> Instant {
        match self.head_started {
            Some(start) => start + self.limits.header_timeout,
            None if self.body_left > 0 => self.last_activity + self.limits.header_timeout,
            None => self.last_activity + self.limits.idle_timeout,
        }
    }

    fn read_client(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        while self.inbuf.len() < HIGH_WATER {
            match self.client.read(buf) {
                Ok(0) => {
                    self.client_eof = true;
                    // tiny_http ends the connection after its last answer.
                    let _ = self.backend.shutdown(Shutdown::Write);
                    break;
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    self.last_activity = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if let Err(reject) = self.frame() {
            self.reject(reject);
        }
        Ok(())
    }

    fn read_backend(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        while self.client.pending() < HIGH_WATER {
            if self.answers.wants_peek() {
                match peek(&self.backend, buf) {
                    // The end of the stream: the read below sees it too.
                    Ok(0) => {}
                    Ok(n) => {
                        if self.answers.peeked(&buf[..n]) == Peeked::Park {
                            self.answer_arrived(&buf[..n]);
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            match self.backend.read(buf) {
                Ok(0) => {
                    self.backend_eof = true;
                    break;
                }
                Ok(n) => {
                    self.answers.read(n);
                    self.answer_arrived(&buf[..n]);
                    if n < buf.len() {
                        // The socket is empty for now; poll tells when not.
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn answer_arrived(&mut self, bytes: &[u8]) {
        self.client.queue(bytes);
        self.last_activity = Instant::now();
        self.awaiting = None;
        self.last_poke = None;
    }

    /// Reads and drops the parked answer (it was forwarded already).
    fn unpark(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        while self.answers.parked() > 0 {
            let n = self.answers.parked().min(buf.len());
            match self.backend.read(&mut buf[..n]) {
                Ok(0) => {
                    self.backend_eof = true;
                    self.answers.unparked(usize::MAX);
                }
                Ok(n) => self.answers.unparked(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Moves complete heads and their bodies from `inbuf` to the backend.
    fn frame(&mut self) -> Result<(), Reject> {
        loop {
            if self.body_left > 0 {
                let n = self.body_left.min(self.inbuf.len());
                if n == 0 {
                    return Ok(());
                }
                self.to_backend.extend(self.inbuf.drain(..n));
                self.body_left -= n;
                if self.body_left == 0 {
                    self.awaiting.get_or_insert_with(Instant::now);
                }
                continue;
            }
            if self.inbuf.is_empty() {
                self.head_started = None;
                return Ok(());
            }
            match head::parse(&self.inbuf) {
                // Up to HIGH_WATER bytes are read before framing, so a whole
                // head may be far over the limit: check it, not the buffer.
                Parsed::Complete(head) if head.len > MAX_HEAD_BYTES => {
                    return Err(Reject::HeadTooLarge)
                }
                Parsed::Complete(head) => {
                    self.inbuf.drain(..head.len);
                    self.head_started = None;
                    self.forward(head)?;
                }
                Parsed::Partial if self.inbuf.len() > MAX_HEAD_BYTES => {
                    return Err(Reject::HeadTooLarge)
                }
                Parsed::Partial => {
                    self.head_started.get_or_insert_with(Instant::now);
                    return Ok(());
                }
                Parsed::Invalid => return Err(Reject::BadRequest),
            }
        }
    }

    fn forward(&mut self, head: Head) -> Result<(), Reject> {
        let length = head.body_length().map_err(|e| match e {
            head::BodyError::Chunked => Reject::LengthRequired,
            head::BodyError::Invalid => Reject::BadRequest,
        })?;
        if length > self.limits.max_body_bytes {
            return Err(Reject::TooLarge);
        }
        let client = head.client(self.peer, &self.limits.trusted_proxies);
        self.to_backend
            .extend(head.for_backend(client, self.client.is_tls()));
        self.answers.sent(&head.method);
        self.body_left = length;
        if length == 0 {
            self.awaiting.get_or_insert_with(Instant::now);
        }
        Ok(())
    }

    /// Answers the client directly (after what tiny_http already said) and
    /// stops reading; the connection closes once the answer is out.
    fn reject(&mut self, reject: Reject) {
        let (status, reason) = reject.status_reason();
        log::info!("{}: refused request: {status} {reason}", self.peer);
        self.rejected = true;
        self.client.queue(&super::error_response(status, reason));
    }
}

/// Writes what the socket takes; whether anything was written.
fn write_some_all(backend: &mut UnixStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut sent = false;
    while write_some(backend, buf)? {
        sent = true;
    }
    Ok(sent)
}

/// Reads without taking the bytes out of the socket.
fn peek(backend: &UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
    Ok(rustix::net::recv(backend, buf, flags)?.0)
}

/// Sends a JSON error and closes, for connections that never reach tiny_http.
pub fn reply_and_close(mut client: Transport, status: u16, reason: &str) {
    client.queue(&super::error_response(status, reason));
    let deadline = Instant::now() + std::time::Duration::from_secs(2);
    while client.wants_write() && Instant::now() < deadline {
        if client.flush().is_err() {
            break;
        }
        let mut fds = [poll::watch(client.socket(), false, true)];
        if poll::wait(&mut fds, std::time::Duration::from_millis(100)).is_err() {
            break;
        }
    }
    client.close_lingering(LINGER);
}
