//! tiny_http's side of the bridge: sending framed requests, reading each
//! answer as it arrives (or leaving a whole one parked in the socket, see
//! `answer`) and poking tiny_http's pool when an answer is overdue.

use super::{Bridge, POKE_AFTER, POKE_AGAIN};
use crate::listener::answer::Fed;
use crate::net::transport::write_some;
use std::io::{ErrorKind, Read};
use std::os::unix::net::UnixStream;
use std::time::Instant;

impl Bridge<'_> {
    /// Whether the backend connection is between requests with nothing
    /// unread, so that the next client connection may use it (a parked
    /// answer is read out first).
    pub(super) fn backend_reusable(&mut self) -> bool {
        if self.in_flight.is_some() || self.backend_eof || !self.to_backend.is_empty() {
            return false;
        }
        let mut buf = [0u8; 4096];
        self.unpark(&mut buf).is_ok() && !self.backend_eof
    }

    /// Writes what tiny_http may take. Once the next request is out, the
    /// parked answer is read: tiny_http's thread is awake then anyway.
    pub(super) fn send(&mut self, buf: &mut [u8], backend_closed: bool) -> std::io::Result<()> {
        write_some_all(&mut self.backend, &mut self.to_backend)?;
        let next_sent = self.in_flight.is_some() && self.to_backend.is_empty();
        if self.parked > 0 && (next_sent || backend_closed) {
            self.unpark(buf)?;
        }
        Ok(())
    }

    /// While an answer is due, always: tiny_http's write must never wait on
    /// the client. Not while a parked answer is still in the socket.
    pub(super) fn reads_backend(&self) -> bool {
        !self.backend_eof && self.in_flight.is_some() && self.parked == 0
    }

    pub(super) fn read_backend(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
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
    pub(super) fn try_park(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
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
    pub(super) fn answer_bytes(&mut self, bytes: &[u8]) {
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

    pub(super) fn answer_done(&mut self) {
        if let Some(flight) = self.in_flight.take() {
            self.closing |= flight.close;
        }
        self.answered_before = true;
        self.idle_since = Instant::now();
    }

    /// tiny_http ended the connection: an answer that runs to the end of
    /// the stream is now whole; anything else is cut short.
    pub(super) fn backend_ended(&mut self) {
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
    pub(super) fn unpark(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
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
    pub(super) fn poke_if_stuck(&mut self, now: Instant) -> Option<Instant> {
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
