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

mod back;
mod front;

pub use front::{body_of, frame_head, Framed};

use super::answer::Answer;
use super::backends::Backends;
use super::slots::{Phase, Slot};
use super::Limits;
use crate::net::head::Head;
use crate::net::poll;
use crate::net::response::{error_response, reply_and_close, LINGER};
use crate::net::transport::Transport;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long an answer may be missing before tiny_http's pool is poked (see
/// `poke_if_stuck`), and how often again while it stays missing.
const POKE_AFTER: Duration = Duration::from_millis(20);
const POKE_AGAIN: Duration = Duration::from_millis(100);

/// Client bytes buffered beyond the request being received, and answer
/// bytes queued for the client, before the bridge stops taking more.
const HIGH_WATER: usize = 256 * 1024;

/// Why the bridge answers a request itself instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    BadRequest,
    LengthRequired,
    TooLarge,
    HeadTooLarge,
    Timeout,
}

impl Reject {
    pub fn status_reason(self) -> (u16, &'static str) {
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

    /// Answers the client directly (after every earlier answer, since
    /// nothing is in flight) and stops reading; the connection closes once
    /// the answer is out.
    fn reject(&mut self, reject: Reject) {
        let (status, reason) = reject.status_reason();
        log::info!("{}: refused request: {status} {reason}", self.peer);
        self.rejected = true;
        self.client.queue(&error_response(status, reason));
    }
}
