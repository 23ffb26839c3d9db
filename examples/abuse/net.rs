//! Connections from chosen loopback addresses (127.0.0.x, so that the
//! platform's per-address limits see several clients), TLS on top, and a
//! small HTTP/1.1 reader. Every connect, handshake and read has a deadline:
//! a platform that stops answering must not stop the driver.

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;
pub type Io<T> = std::io::Result<T>;

/// The loopback address `127.0.0.n`.
pub fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// A TCP connection from `from` to 127.0.0.1:`port`, within `timeout`
/// (a platform whose accept queue is full would otherwise keep us for the
/// kernel's SYN retries, about two minutes).
pub fn connect_from(from: Ipv4Addr, port: u16, timeout: Duration) -> Io<TcpStream> {
    if !from.is_loopback() {
        return Err(std::io::Error::other("attacks stay on loopback"));
    }
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::bind(&fd, &SocketAddrV4::new(from, 0))?;
    match rustix::net::connect(&fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)) {
        Ok(()) => {}
        Err(rustix::io::Errno::INPROGRESS) => {
            let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
            let ready = rustix::event::poll(&mut fds, Some(&timespec(timeout)))?;
            if ready == 0 {
                return Err(ErrorKind::TimedOut.into());
            }
            if let Err(e) = rustix::net::sockopt::socket_error(&fd)? {
                return Err(e.into());
            }
        }
        Err(e) => return Err(e.into()),
    }
    let tcp = TcpStream::from(fd);
    tcp.set_nonblocking(false)?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// A TLS client that trusts only the platform's self-signed certificate.
pub fn client_config(cert_pem: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| e.to_string())?;
    roots.add(cert).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Completes a TLS handshake over `tcp` within `timeout`.
pub fn tls_over(
    tcp: TcpStream,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Io<TlsStream> {
    let name =
        rustls::pki_types::ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let mut conn =
        rustls::ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
    let deadline = Instant::now() + timeout;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        tcp.set_read_timeout(Some(left(deadline)?))?;
        conn.complete_io(&mut tcp)?;
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// Time until `deadline`, or `TimedOut` when it has passed.
pub fn left(deadline: Instant) -> Io<Duration> {
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest.is_zero() {
        return Err(ErrorKind::TimedOut.into());
    }
    Ok(rest.max(Duration::from_millis(1)))
}

/// One answer: status, headers (names in lower case) and body.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

/// An HTTP/1.1 connection over TLS: send bytes, read answers one by one.
pub struct Conn {
    pub stream: TlsStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects from `from` and completes TLS, all within `timeout`.
    pub fn open(
        from: Ipv4Addr,
        port: u16,
        tls: &Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Io<Conn> {
        let deadline = Instant::now() + timeout;
        let tcp = connect_from(from, port, timeout)?;
        tcp.set_write_timeout(Some(timeout))?;
        let stream = tls_over(tcp, tls, left(deadline)?)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn send(&mut self, bytes: &[u8]) -> Io<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads the next answer, whole, by `deadline`.
    pub fn read_response(&mut self, deadline: Instant) -> Io<Response> {
        let (head_len, mut response) = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            self.fill(deadline)?;
        };
        self.buf.drain(..head_len);
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        response.body = if chunked {
            self.read_chunked(deadline)?
        } else {
            let length = response
                .header("content-length")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            self.take(length, deadline)?
        };
        Ok(response)
    }

    fn take(&mut self, n: usize, deadline: Instant) -> Io<Vec<u8>> {
        while self.buf.len() < n {
            self.fill(deadline)?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn read_chunked(&mut self, deadline: Instant) -> Io<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill(deadline)?;
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..line_end + 2);
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "bad chunk size"))?;
            let chunk = self.take(size + 2, deadline)?;
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    fn fill(&mut self, deadline: Instant) -> Io<()> {
        self.stream
            .get_ref()
            .set_read_timeout(Some(left(deadline)?))?;
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

    /// The stream and the bytes read past the last answer (a WebSocket's
    /// first frames may follow its 101 at once).
    pub fn into_parts(self) -> (TlsStream, Vec<u8>) {
        (self.stream, self.buf)
    }
}

/// A complete response head at the start of `buf`: its length and the
/// response without body.
fn parse_head(buf: &[u8]) -> Io<Option<(usize, Response)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    let status = parsed
        .parse(buf)
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
    let httparse::Status::Complete(len) = status else {
        return Ok(None);
    };
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).into_owned();
            (h.name.to_ascii_lowercase(), value)
        })
        .collect();
    let response = Response {
        status: parsed.code.unwrap_or(0),
        headers,
        body: Vec::new(),
    };
    Ok(Some((len, response)))
}

/// A request with a JSON body.
pub fn json_request(method: &str, path: &str, body: &serde_json::Value, extra: &str) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Opens a connection, sends `request` and reads one answer within `timeout`.
pub fn exchange(
    from: Ipv4Addr,
    port: u16,
    tls: &Arc<rustls::ClientConfig>,
    request: &[u8],
    timeout: Duration,
) -> Io<Response> {
    let deadline = Instant::now() + timeout;
    let mut conn = Conn::open(from, port, tls, timeout)?;
    conn.send(request)?;
    conn.read_response(deadline)
}
