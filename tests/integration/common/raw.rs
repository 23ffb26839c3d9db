//! Raw connections, plain or TLS, for what an HTTP library hides: slow and
//! half-sent requests, pipelining, connection closes.

use super::client::Resp;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A byte stream a [`RawConn`] can run on.
pub trait Stream: Read + Write + Send {
    /// The TCP socket underneath (for timeouts).
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Stream for TlsStream {
    fn tcp(&self) -> &TcpStream {
        self.get_ref()
    }
}

impl Stream for Box<dyn Stream> {
    fn tcp(&self) -> &TcpStream {
        (**self).tcp()
    }
}

/// Connects TLS over `tcp`, trusting only `cert_pem`, and completes the
/// handshake (within 10 s).
pub fn tls_handshake(tcp: TcpStream, cert_pem: &str) -> std::io::Result<TlsStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("cert PEM");
    roots.add(cert).expect("root cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    let mut tcp = tcp;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// A response head: its length in bytes, status and headers (names in
/// lower case).
struct RespHead {
    len: usize,
    status: u16,
    headers: Vec<(String, String)>,
}

/// A raw HTTP/1.1 connection: send bytes, read responses one by one (bytes
/// after one response are kept for the next), tell when the server closes.
pub struct RawConn<S: Stream> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Stream> RawConn<S> {
    pub fn new(stream: S) -> Self {
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads one response (head, then `Content-Length` body bytes).
    pub fn read_response(&mut self, timeout: Duration) -> std::io::Result<Resp> {
        let deadline = Instant::now() + timeout;
        let RespHead {
            len: head_len,
            status,
            headers,
        } = self.read_head(deadline)?;
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        while self.buf.len() < head_len + length {
            self.fill(deadline)?;
        }
        let body = String::from_utf8_lossy(&self.buf[head_len..head_len + length]).into_owned();
        self.buf.drain(..head_len + length);
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// Reads the response to a HEAD request: a head announcing a length,
    /// and no body. Returns the status.
    pub fn read_head_response(&mut self, timeout: Duration) -> std::io::Result<u16> {
        let head = self.read_head(Instant::now() + timeout)?;
        self.buf.drain(..head.len);
        Ok(head.status)
    }

    /// Waits for a whole response head at the start of the buffer.
    fn read_head(&mut self, deadline: Instant) -> std::io::Result<RespHead> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head_len) = parsed
                .parse(&self.buf)
                .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?
            {
                let headers = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect();
                return Ok(RespHead {
                    len: head_len,
                    status: parsed.code.unwrap_or(0),
                    headers,
                });
            }
            self.fill(deadline)?;
        }
    }

    /// Sends a request and reads its response.
    pub fn roundtrip(&mut self, request: &[u8]) -> Resp {
        self.send(request).expect("send request");
        self.read_response(Duration::from_secs(10))
            .expect("read response")
    }

    fn fill(&mut self, deadline: Instant) -> std::io::Result<()> {
        let now = Instant::now();
        if now >= deadline {
            return Err(ErrorKind::TimedOut.into());
        }
        let wait = (deadline - now).max(Duration::from_millis(1));
        self.stream.tcp().set_read_timeout(Some(wait))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(ErrorKind::TimedOut.into())
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the server closes the connection (end of stream or a
    /// reset); returns how long that took, or `None` if it stayed open for
    /// `timeout`. Bytes that arrive meanwhile are discarded.
    pub fn wait_closed(&mut self, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        let mut chunk = [0u8; 4096];
        while start.elapsed() < timeout {
            let left = timeout.saturating_sub(start.elapsed());
            let wait = left.clamp(Duration::from_millis(1), Duration::from_millis(100));
            if self.stream.tcp().set_read_timeout(Some(wait)).is_err() {
                return Some(start.elapsed());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(start.elapsed()),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(start.elapsed()),
            }
        }
        None
    }

    /// Whether the connection is still open after `wait` without data.
    pub fn is_open(&mut self, wait: Duration) -> bool {
        self.wait_closed(wait).is_none()
    }

    pub fn shutdown(&self) {
        let _ = self.stream.tcp().shutdown(Shutdown::Both);
    }
}
