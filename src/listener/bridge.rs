//! The HTTP bridge: requests from a client connection to tiny_http, which
//! listens on a private Unix socket, and its answers back.
//!
//! tiny_http is never exposed to the client's bytes. The bridge receives
//! each request whole (head, then exactly `Content-Length` body bytes) under
//! absolute deadlines, writes a head of its own in one canonical form (see
//! `Head::for_backend`), and forwards one request at a time: the next
//! request of a pipeline goes out only after the previous answer has come
//! back whole (see `answer`). So a handler never waits on the network, and
//! tiny_http never holds a second request of a connection whose answer
//! would have to wait for the first. The bridge reads every answer as soon
//! as it arrives, whatever the client's pace, so tiny_http's writes never
//! wait for a slow reader either.
//!
//! One thread, one poll loop: both sockets are non-blocking.

use super::answer::{Answer, Fed};
use super::backends::Backends;
use super::slots::{Phase, Slot};
use super::Limits;
use crate::net::head::{self, Head, Parsed, MAX_HEAD_BYTES};
use crate::net::poll;
use crate::net::transport::{write_some, Transport};
use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long a refused request's remaining bytes are read and dropped.
const LINGER: Duration = Duration::from_secs(2);

/// How long an answer may be missing before tiny_http's pool is poked (see
/// `poke_if_stuck`), and how often again while it stays missing.
const POKE_AFTER: Duration = Duration::from_millis(20);
const POKE_AGAIN: Duration = Duration::from_millis(100);

/// Client bytes buffered beyond the request being received, and answer
/// bytes queued for the client, before the bridge stops taking more.
const HIGH_WATER: usize = 256 * 1024;

/// Why the bridge answers a request itself instead of forwarding it.
#[derive(Debug, Clone, Copy)]
enum Reject {
    BadRequest,
    LengthRequired,
    TooLarge,
    HeadTooLarge,
    Timeout,
}

impl Reject {
    fn status_reason(self) -> (u16, &'static str) {
        match self {
            Reject::BadRequest => (400, "malformed_request"),
            Reject::LengthRequired => (411, "length_required"),
            Reject::TooLarge => (413, "request_body_too_large"),
            Reject::HeadTooLarge => (431, "request_header_too_large"),
            Reject::Timeout => (408, "request_timeout"),
        }
    }
}

/// A request whose head is complete and whose body is still arriving.
struct Front {
    head: Head,
    body: usize,
    close: bool,
    since: Instant,
    continued: bool,
}

/// The request tiny_http is answering.
struct InFlight {
    answer: Answer,
    close: bool,
    since: Instant,
    last_poke: Option<Instant>,
}

struct Bridge<'a> {
    client: Transport,
    backend: UnixStream,
    /// tiny_http has answered on `backend` (see `poke_if_stuck`).
    answered_before: bool,
    backends: &'a Backends,
    peer: SocketAddr,
    limits: &'a Limits,
    slot: &'a Slot,
    /// Client bytes not yet framed (after `front`'s head: its body).
    inbuf: Vec<u8>,
    front: Option<Front>,
    /// When the bridge began waiting for the head at the start of `inbuf`.
    head_since: Option<Instant>,
    to_backend: Vec<u8>,
    in_flight: Option<InFlight>,
    /// Bytes of a whole answer already forwarded from a peek and still in
    /// the socket (see `answer`).
    parked: usize,
    /// When the last answer ended (or the connection began).
    idle_since: Instant,
    client_eof: bool,
    backend_eof: bool,
    /// No more requests: end once the output is out.
    closing: bool,
    /// The bridge refused a request; the client may still be sending.
    rejected: bool,
    /// After a timeout's 408: when to give up delivering it.
    flush_by: Option<Instant>,
}

/// Serves one HTTP connection whose first head is `first`; `rest` holds the
/// bytes read after it.
pub fn run(
    client: Transport,
    backends: &Backends,
    first: Head,
    rest: Vec<u8>,
    peer: SocketAddr,
    limits: &Limits,
    slot: &Slot,
) {
    let backend = match backends.take() {
        Ok(b) => b,
        Err(e) => {
            log::error!("cannot reach the HTTP backend: {e}");
            return reply_and_close(client, 503, "server_unavailable");
        }
    };
    let now = Instant::now();
    let mut bridge = Bridge {
        client,
        backend: backend.stream,
        answered_before: backend.answered_before,
        backends,
        peer,
        limits,
        slot,
        inbuf: rest,
        front: None,
        head_since: None,
        to_backend: Vec::new(),
        in_flight: None,
        parked: 0,
        idle_since: now,
        client_eof: false,
        backend_eof: false,
        closing: false,
        rejected: false,
        flush_by: None,
    };
    if let Err(reject) = bridge.accept_head(first, now) {
        bridge.reject(reject);
    }
    let pumped = bridge.pump();
    if let Err(e) = &pumped {
        log::debug!("{peer}: connection ended: {e}");
    }
    let keep = pumped.is_ok() && bridge.backend_reusable();
    let Bridge {
        client,
        backend,
        rejected,
        ..
    } = bridge;
    if keep {
        backends.give_back(backend);
    }
    if rejected {
        client.close_lingering(LINGER);
    } else {
        client.close();
    }
}

impl Bridge<'_> {
    fn pump(&mut self) -> std::io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        // Whether a read may find something: a socket is read only after poll
        // said so, which saves a failing read per socket and request.
        let (mut client_ready, mut backend_ready) = (true, true);
        let mut backend_closed = false;
        loop {
            if self.reads_client() && client_ready {
                self.read_client(&mut buf)?;
            }
            self.advance();
            self.send(&mut buf, backend_closed)?;
            if self.reads_backend() && (backend_ready || backend_closed) {
                self.read_backend(&mut buf)?;
                if self.in_flight.is_none() {
                    // The answer is whole: the next request may go out now.
                    self.advance();
                    self.send(&mut buf, backend_closed)?;
                }
            }
            if backend_closed && self.in_flight.is_none() && self.parked == 0 {
                self.backend_eof = true;
            }
            self.client.flush()?;
            if self.finished() {
                return Ok(());
            }
            if self.may_forward() {
                // The flush made room for the request that waited for it.
                continue;
            }
            let now = Instant::now();
            let deadline = self.deadline();
            if now >= deadline {
                if self.time_out(now) {
                    return Ok(());
                }
                continue;
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

    /// Whether the backend connection is between requests with nothing
    /// unread, so that the next client connection may use it (a parked
    /// answer is read out first).
    fn backend_reusable(&mut self) -> bool {
        if self.in_flight.is_some() || self.backend_eof || !self.to_backend.is_empty() {
            return false;
        }
        let mut buf = [0u8; 4096];
        self.unpark(&mut buf).is_ok() && !self.backend_eof
    }

    /// Writes what tiny_http may take. Once the next request is out, the
    /// parked answer is read: tiny_http's thread is awake then anyway.
    fn send(&mut self, buf: &mut [u8], backend_closed: bool) -> std::io::Result<()> {
        write_some_all(&mut self.backend, &mut self.to_backend)?;
        let next_sent = self.in_flight.is_some() && self.to_backend.is_empty();
        if self.parked > 0 && (next_sent || backend_closed) {
            self.unpark(buf)?;
        }
        Ok(())
    }

    /// Takes the next step the client's bytes allow while nothing is in
    /// flight: frame the next head, send `100 Continue`, forward a whole
    /// request, or refuse one. Also records the connection's phase.
    fn advance(&mut self) {
        if self.in_flight.is_none() && !self.closing && !self.rejected {
            if let Err(reject) = self.frame() {
                self.reject(reject);
            }
        }
        self.slot.set(self.phase());
    }

    fn phase(&self) -> Phase {
        if self.in_flight.is_some() {
            Phase::Busy
        } else if self.client.pending() > 0 {
            Phase::Draining
        } else if self.front.is_some() {
            Phase::Body
        } else if !self.inbuf.is_empty() {
            Phase::Head
        } else {
            Phase::Idle
        }
    }

    /// Frames the request at the start of `inbuf`, and forwards it once its
    /// body is complete and the client has taken most earlier answers.
    fn frame(&mut self) -> Result<(), Reject> {
        let now = Instant::now();
        if self.front.is_none() {
            if self.inbuf.is_empty() {
                self.head_since = None;
                return Ok(());
            }
            let since = *self.head_since.get_or_insert(now);
            match head::parse(&self.inbuf) {
                // Up to HIGH_WATER bytes are read before framing, so a whole
                // head may be far over the limit: check it, not the buffer.
                Parsed::Complete(head) if head.len > MAX_HEAD_BYTES => {
                    return Err(Reject::HeadTooLarge)
                }
                Parsed::Complete(head) => {
                    self.inbuf.drain(..head.len);
                    self.head_since = None;
                    self.accept_head(head, since)?;
                }
                Parsed::Partial if self.inbuf.len() > MAX_HEAD_BYTES => {
                    return Err(Reject::HeadTooLarge)
                }
                Parsed::Partial => return Ok(()),
                Parsed::Invalid => return Err(Reject::BadRequest),
            }
        }
        let Some(front) = &mut self.front else {
            return Ok(());
        };
        if self.inbuf.len() < front.body {
            if front.body > 0 && front.head.expects_continue() && !front.continued {
                front.continued = true;
                self.client.queue(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            return Ok(());
        }
        if self.may_forward() {
            if let Some(front) = self.front.take() {
                self.forward(front);
            }
        }
        // Otherwise the client is slow to take its answers: wait for it.
        Ok(())
    }

    /// A whole request waits, and only for the client to take earlier
    /// answers, which it now has.
    fn may_forward(&self) -> bool {
        let whole = self
            .front
            .as_ref()
            .is_some_and(|f| self.inbuf.len() >= f.body);
        whole
            && self.in_flight.is_none()
            && self.client.pending() <= HIGH_WATER
            && !self.closing
            && !self.rejected
    }

    /// Checks a complete head; its body is awaited from now on.
    fn accept_head(&mut self, head: Head, since: Instant) -> Result<(), Reject> {
        let body = head.body_length().map_err(|e| match e {
            head::BodyError::Chunked => Reject::LengthRequired,
            head::BodyError::Invalid => Reject::BadRequest,
        })?;
        if body > self.limits.max_body_bytes {
            return Err(Reject::TooLarge);
        }
        self.front = Some(Front {
            close: head.wants_close(),
            head,
            body,
            since,
            continued: false,
        });
        Ok(())
    }

    fn forward(&mut self, front: Front) {
        let client = front.head.client(self.peer, &self.limits.trusted_proxies);
        let head = front
            .head
            .for_backend(client, self.client.is_tls(), front.body);
        self.to_backend.extend_from_slice(&head);
        self.to_backend.extend(self.inbuf.drain(..front.body));
        self.in_flight = Some(InFlight {
            answer: Answer::new(front.head.method.eq_ignore_ascii_case("HEAD")),
            close: front.close,
            since: Instant::now(),
            last_poke: None,
        });
        if front.close {
            // Nothing after this request is read.
            self.closing = true;
        }
    }

    fn reads_client(&self) -> bool {
        let limit = match &self.front {
            Some(front) => front.body.max(HIGH_WATER),
            None => HIGH_WATER,
        };
        !self.client_eof && !self.closing && !self.rejected && self.inbuf.len() < limit
    }

    /// While an answer is due, always: tiny_http's write must never wait on
    /// the client. Not while a parked answer is still in the socket.
    fn reads_backend(&self) -> bool {
        !self.backend_eof && self.in_flight.is_some() && self.parked == 0
    }

    fn finished(&self) -> bool {
        if self.client.wants_write() || self.in_flight.is_some() {
            return false;
        }
        // Without tiny_http, or after a refusal or a last request: done.
        // A client that stopped sending has no request left to complete.
        self.backend_eof || self.rejected || self.closing || self.client_eof
    }

    /// The deadline of what the bridge waits for now.
    fn deadline(&self) -> Instant {
        let limits = self.limits;
        if let Some(by) = self.flush_by {
            return by;
        }
        if let Some(flight) = &self.in_flight {
            return flight.since + limits.idle_timeout;
        }
        if self.client.pending() > 0 {
            // An answer the client does not take.
            return self.idle_since + limits.idle_timeout;
        }
        if let Some(front) = &self.front {
            return front.since + limits.body_timeout;
        }
        match self.head_since {
            Some(since) => since + limits.header_timeout,
            None => self.idle_since + limits.idle_timeout,
        }
    }

    /// The deadline passed: a request still arriving gets 408 (with a
    /// short time to take it); an idle connection, a reader that does not
    /// take its answers or a missing answer ends at once. Whether to end.
    fn time_out(&mut self, now: Instant) -> bool {
        if self.in_flight.is_some() {
            log::warn!("{}: no answer from the HTTP backend in time", self.peer);
            return true;
        }
        let arriving = self.front.is_some() || self.head_since.is_some();
        if self.rejected || self.client.pending() > 0 || !arriving {
            log::debug!("{}: timed out", self.peer);
            return true;
        }
        self.front = None;
        self.reject(Reject::Timeout);
        self.flush_by = Some(now + LINGER);
        false
    }

    fn read_client(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        while self.reads_client() {
            match self.client.read(buf) {
                Ok(0) => self.client_eof = true,
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read_backend(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        while self.reads_backend() {
            if self.try_park(buf)? {
                return Ok(());
            }
            let n = match self.backend.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.backend_ended();
                return Ok(());
            }
            self.answer_bytes(&buf[..n]);
            if n < buf.len() {
                // The socket is empty for now; poll tells when not.
                return Ok(());
            }
        }
        Ok(())
    }

    /// Peeks at an answer not yet read from; when the socket holds exactly
    /// the whole answer, forwards it and leaves it there (see `answer`).
    fn try_park(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        let Some(flight) = &self.in_flight else {
            return Ok(false);
        };
        if !flight.answer.untouched() {
            return Ok(false);
        }
        let n = match peek(&self.backend, buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        let mut trial = flight.answer.clone();
        if n == 0 || n == buf.len() || trial.feed(&buf[..n]) != (Fed::Done { beyond: 0 }) {
            return Ok(false);
        }
        self.parked = n;
        self.answer_bytes(&buf[..n]);
        Ok(true)
    }

    /// Forwards answer bytes to the client and notes where the answer ends.
    fn answer_bytes(&mut self, bytes: &[u8]) {
        let Some(flight) = &mut self.in_flight else {
            return;
        };
        match flight.answer.feed(bytes) {
            Fed::More => self.client.queue(bytes),
            Fed::Done { beyond } => {
                self.client.queue(&bytes[..bytes.len() - beyond]);
                if beyond > 0 {
                    // tiny_http answered more than was asked: stop trusting it.
                    log::warn!("{}: unexpected bytes after an answer", self.peer);
                    self.closing = true;
                }
                self.answer_done();
            }
        }
    }

    fn answer_done(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            self.closing |= flight.close;
        }
        self.answered_before = true;
        self.idle_since = Instant::now();
    }

    /// tiny_http ended the connection: an answer that runs to the end of
    /// the stream is now whole; anything else is cut short.
    fn backend_ended(&mut self) {
        self.backend_eof = true;
        if let Some(flight) = &self.in_flight {
            if !flight.answer.until_end() {
                log::warn!("{}: the HTTP backend ended an answer early", self.peer);
            }
        }
        self.answer_done();
        self.closing = true;
    }

    /// Reads and drops the parked answer (it was forwarded already).
    fn unpark(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        while self.parked > 0 {
            let n = self.parked.min(buf.len());
            match self.backend.read(&mut buf[..n]) {
                Ok(0) => {
                    self.backend_eof = true;
                    self.parked = 0;
                }
                Ok(n) => self.parked -= n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// tiny_http 0.12's thread pool can queue a new connection although no
    /// thread will take it: `spawn` counts a thread as waiting until that
    /// thread has run again, so two connections arriving while one thread
    /// waits leave the second queued until some connection ends (and every
    /// bridged connection holds a pool thread while it lives). Opening and
    /// closing an empty connection frees it: tiny_http then starts a thread
    /// (or wakes a waiting one), which runs the queued connection next.
    /// Done while the first answer on a backend connection is overdue
    /// (once tiny_http has answered on it, a thread serves it, and a slow
    /// answer is a slow handler: poking then only costs every connection
    /// waiting for a password hash ten connects a second); returns when to
    /// check again.
    fn poke_if_stuck(&mut self, now: Instant) -> Option<Instant> {
        if self.answered_before {
            return None;
        }
        let flight = self.in_flight.as_mut()?;
        if !flight.answer.untouched() {
            return None;
        }
        let due = match flight.last_poke {
            None => flight.since + POKE_AFTER,
            Some(last) => last + POKE_AGAIN,
        };
        if now < due {
            return Some(due);
        }
        // A failed connect changes nothing: the next check tries again.
        drop(UnixStream::connect(self.backends.path()));
        flight.last_poke = Some(now);
        Some(now + POKE_AGAIN)
    }

    /// Answers the client directly (after every earlier answer, since
    /// nothing is in flight) and stops reading; the connection closes once
    /// the answer is out.
    fn reject(&mut self, reject: Reject) {
        let (status, reason) = reject.status_reason();
        log::info!("{}: refused request: {status} {reason}", self.peer);
        self.rejected = true;
        self.client.queue(&super::error_response(status, reason));
    }
}

/// Writes what the socket takes.
fn write_some_all(backend: &mut UnixStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    while write_some(backend, buf)? {}
    Ok(())
}

/// Reads without taking the bytes out of the socket.
fn peek(backend: &UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
    Ok(rustix::net::recv(backend, buf, flags)?.0)
}

/// Sends a JSON error and closes, for connections that never reach tiny_http.
pub fn reply_and_close(mut client: Transport, status: u16, reason: &str) {
    client.queue(&super::error_response(status, reason));
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.wants_write() && Instant::now() < deadline {
        if client.flush().is_err() {
            break;
        }
        let mut fds = [poll::watch(client.socket(), false, true)];
        if poll::wait(&mut fds, Duration::from_millis(100)).is_err() {
            break;
        }
    }
    client.close_lingering(LINGER);
}
