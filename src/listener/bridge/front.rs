//! The client's side of the bridge: reading its bytes, framing each
//! request (head, then exactly its body) and queueing it for tiny_http.

use super::{Bridge, Front, InFlight, Reject, HIGH_WATER};
use crate::listener::answer::Answer;
use crate::net::head::{self, Head, Parsed, MAX_HEAD_BYTES};
use std::io::{ErrorKind, Read};
use std::time::Instant;

/// What the bytes at the start of a client's buffer hold: the pure part of
/// `Bridge::frame`, apart so that it can be fuzzed (fuzz/entries.rs).
#[derive(Debug)]
pub enum Framed {
    /// Not a whole head yet, and not over the limit.
    Partial,
    /// A whole head (`head.len` bytes) and the length of the body after it,
    /// which may not have arrived yet.
    Head { head: Head, body: usize },
    /// The bridge answers this itself and reads no further.
    Refused(Reject),
}

/// Frames the head at the start of `buf`, refusing what the bridge does not
/// forward: heads over [`MAX_HEAD_BYTES`], bytes that are not a head, and
/// bodies it cannot or will not frame (see [`body_of`]).
pub fn frame_head(buf: &[u8], max_body: usize) -> Framed {
    match head::parse(buf) {
        // Up to HIGH_WATER bytes are read before framing, so a whole head
        // may be far over the limit: check it, not the buffer.
        Parsed::Complete(head) if head.len > MAX_HEAD_BYTES => {
            Framed::Refused(Reject::HeadTooLarge)
        }
        Parsed::Complete(head) => match body_of(&head, max_body) {
            Ok(body) => Framed::Head { head, body },
            Err(reject) => Framed::Refused(reject),
        },
        Parsed::Partial if buf.len() > MAX_HEAD_BYTES => Framed::Refused(Reject::HeadTooLarge),
        Parsed::Partial => Framed::Partial,
        Parsed::Invalid => Framed::Refused(Reject::BadRequest),
    }
}

/// The body length of a request the bridge forwards: `Content-Length`
/// only (chunked bodies get 411), at most `max_body` bytes (413 beyond).
pub fn body_of(head: &Head, max_body: usize) -> Result<usize, Reject> {
    let body = head.body_length().map_err(|e| match e {
        head::BodyError::Chunked => Reject::LengthRequired,
        head::BodyError::Invalid => Reject::BadRequest,
    })?;
    if body > max_body {
        return Err(Reject::TooLarge);
    }
    Ok(body)
}

impl Bridge<'_> {
    /// Frames the request at the start of `inbuf`, and forwards it once its
    /// body is complete and the client has taken most earlier answers.
    pub(super) fn frame(&mut self) -> Result<(), Reject> {
        let now = Instant::now();
        if self.front.is_none() {
            if self.inbuf.is_empty() {
                self.head_since = None;
                return Ok(());
            }
            let since = *self.head_since.get_or_insert(now);
            match frame_head(&self.inbuf, self.limits.max_body_bytes) {
                Framed::Head { head, body } => {
                    self.inbuf.drain(..head.len);
                    self.head_since = None;
                    self.accept(head, body, since);
                }
                Framed::Partial => return Ok(()),
                Framed::Refused(reject) => return Err(reject),
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
    pub(super) fn may_forward(&self) -> bool {
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
    pub(super) fn accept_head(&mut self, head: Head, since: Instant) -> Result<(), Reject> {
        let body = body_of(&head, self.limits.max_body_bytes)?;
        self.accept(head, body, since);
        Ok(())
    }

    fn accept(&mut self, head: Head, body: usize, since: Instant) {
        self.front = Some(Front {
            close: head.wants_close(),
            head,
            body,
            since,
            continued: false,
        });
    }

    pub(super) fn forward(&mut self, front: Front) {
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

    pub(super) fn reads_client(&self) -> bool {
        let limit = match &self.front {
            Some(front) => front.body.max(HIGH_WATER),
            None => HIGH_WATER,
        };
        !self.client_eof && !self.closing && !self.rejected && self.inbuf.len() < limit
    }

    pub(super) fn read_client(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
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
}
