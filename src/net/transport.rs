//! A connection as a non-blocking byte stream, with or without TLS (server
//! side for clients of the platform, client side for the module client).
//!
//! Reads return `WouldBlock` when nothing is ready; writes never block: they
//! queue in `out` and [`Transport::flush`] moves what the socket takes. The
//! caller polls the socket for writability while [`Transport::wants_write`]
//! and bounds `out` by not producing more (see [`Transport::pending`]).

use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

/// Plaintext handed to rustls at once; it encrypts and buffers at most this.
const TLS_CHUNK: usize = 16 * 1024;

pub struct Transport {
    /// Shared with the connection table, which may shut it down to make
    /// room (see `slots`); all I/O goes through this handle.
    tcp: Arc<TcpStream>,
    /// Boxed: rustls' state is large, and moving it by value through the
    /// call chain costs stack that stays resident on long-lived threads.
    tls: Option<Box<Connection>>,
    out: Vec<u8>,
    /// The last socket read came back short: the socket was empty then, so
    /// the next read answers `WouldBlock` without asking it (the caller
    /// polls next, and poll sees anything that arrived since). Saves one
    /// failing `recv` per request.
    drained: bool,
}

impl Transport {
    pub fn new(
        tcp: impl Into<Arc<TcpStream>>,
        tls: Option<&Arc<ServerConfig>>,
    ) -> io::Result<Self> {
        let tcp = tcp.into();
        tcp.set_nonblocking(true)?;
        let tls = match tls {
            Some(config) => {
                let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                Some(Box::new(Connection::from(conn)))
            }
            None => None,
        };
        Ok(Transport {
            tcp,
            tls,
            out: Vec::new(),
            drained: false,
        })
    }

    /// The client side of a TLS connection (the module client uses this).
    pub fn client(tcp: TcpStream, tls: ClientConnection) -> io::Result<Self> {
        let tcp = Arc::new(tcp);
        tcp.set_nonblocking(true)?;
        Ok(Transport {
            tcp,
            tls: Some(Box::new(tls.into())),
            out: Vec::new(),
            drained: false,
        })
    }

    pub fn socket(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket, for whoever may have to shut it down (see `slots`).
    pub fn shared_socket(&self) -> Arc<TcpStream> {
        self.tcp.clone()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Bytes queued for the client and not yet taken by the socket.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Whether anything waits for the socket to become writable.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty() || self.tls.as_ref().is_some_and(|c| c.wants_write())
    }

    /// Queues bytes for the client.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Moves queued bytes to the socket until it would block.
    pub fn flush(&mut self) -> io::Result<()> {
        loop {
            let progressed = match &mut self.tls {
                None => write_some(&mut &*self.tcp, &mut self.out)?,
                Some(conn) => {
                    if conn.wants_write() {
                        match conn.write_tls(&mut &*self.tcp) {
                            Ok(_) => true,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                            Err(e) if e.kind() == ErrorKind::Interrupted => true,
                            Err(e) => return Err(e),
                        }
                    } else if !self.out.is_empty() && !conn.is_handshaking() {
                        let n = self.out.len().min(TLS_CHUNK);
                        conn.writer().write_all(&self.out[..n])?;
                        self.out.drain(..n);
                        true
                    } else {
                        false
                    }
                }
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Ends the connection after an answer the client may not have waited
    /// for (a refused body): stop sending, then read and drop what it still
    /// sends for up to `linger`. Closing with unread input would reset the
    /// connection, and the client could lose the answer.
    pub fn close_lingering(mut self, linger: std::time::Duration) {
        if let Some(conn) = &mut self.tls {
            conn.send_close_notify();
        }
        let _ = self.flush();
        let _ = self.tcp.shutdown(Shutdown::Write);
        let deadline = std::time::Instant::now() + linger;
        let mut sink = [0u8; 16 * 1024];
        while std::time::Instant::now() < deadline {
            match (&*self.tcp).read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    let mut fds = [super::poll::watch(&self.tcp, true, false)];
                    if super::poll::wait(&mut fds, left).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// Ends the connection politely: TLS close_notify, then a TCP shutdown.
    pub fn close(mut self) {
        if let Some(conn) = &mut self.tls {
            conn.send_close_notify();
        }
        let _ = self.flush();
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

/// One non-blocking write of `buf`'s head; whether anything moved.
pub(crate) fn write_some(tcp: &mut impl Write, buf: &mut Vec<u8>) -> io::Result<bool> {
    if buf.is_empty() {
        return Ok(false);
    }
    match tcp.write(buf) {
        Ok(0) => Err(ErrorKind::WriteZero.into()),
        Ok(n) => {
            buf.drain(..n);
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
        Err(e) => Err(e),
    }
}

impl Read for Transport {
    /// Plaintext from the client; `Ok(0)` at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(conn) = self.tls.as_mut() else {
                if std::mem::take(&mut self.drained) {
                    return Err(ErrorKind::WouldBlock.into());
                }
                let n = (&*self.tcp).read(buf)?;
                self.drained = n > 0 && n < buf.len();
                return Ok(n);
            };
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if std::mem::take(&mut self.drained) {
                return Err(ErrorKind::WouldBlock.into());
            }
            let mut socket = ShortReads {
                tcp: &self.tcp,
                short: false,
            };
            if conn.read_tls(&mut socket)? == 0 {
                return Ok(0);
            }
            self.drained = socket.short;
            if let Err(e) = conn.process_new_packets() {
                // Tell the peer why (the alert is queued), then give up.
                let _ = conn.write_tls(&mut &*self.tcp);
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            if conn.wants_write() {
                // Handshake messages must go out before the peer can go on.
                self.flush()?;
            }
        }
    }
}

/// The socket as rustls reads it, noting whether a read came back short.
struct ShortReads<'a> {
    tcp: &'a TcpStream,
    short: bool,
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = { self.tcp }.read(buf)?;
        self.short = n > 0 && n < buf.len();
        Ok(n)
    }
}

/// tungstenite writes frames through this; bytes queue like [`Transport::queue`].
impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.queue(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Transport::flush(self)
    }
}
