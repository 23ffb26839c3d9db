//! A WebSocket connection to a platform, over TLS or not, opened with the
//! original module client's handshake (a GET whose JSON body names the
//! module). Non-blocking underneath; `recv` and `send` wait with deadlines.

use super::ClientError;
use crate::net::poll;
use crate::net::transport::Transport;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{ErrorKind, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

pub struct Connection {
    ws: WebSocket<Transport>,
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// `wss://host:port/websocket` (or `ws://` for a platform without TLS).
    pub url: String,
    /// Trust this PEM certificate (a self-signed platform) instead of the
    /// usual web roots.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl Connection {
    /// Connects; `handshake_body` is sent as the upgrade request's body, as
    /// the original client does (`None` sends a plain upgrade).
    pub fn open(target: &Target, handshake_body: Option<&str>) -> Result<Connection, ClientError> {
        let (tls, host, port, path) = parse_url(&target.url)?;
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| ClientError::Connect(format!("{host}: {e}")))?
            .next()
            .ok_or_else(|| ClientError::Connect(format!("{host}: no address")))?;
        let tcp = TcpStream::connect_timeout(&addr, target.timeout)
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let mut transport = if tls {
            let config = tls_config(target.ca_pem.as_deref())?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| ClientError::Connect(e.to_string()))?;
            let conn = rustls::ClientConnection::new(config, name)
                .map_err(|e| ClientError::Connect(e.to_string()))?;
            Transport::client(tcp, conn)
        } else {
            Transport::new(tcp, None)
        }
        .map_err(|e| ClientError::Connect(e.to_string()))?;
        let key_bytes: [u8; 16] =
            crate::random::bytes().map_err(|e| ClientError::Connect(e.to_string()))?;
        let key = STANDARD.encode(key_bytes);
        let body = handshake_body.unwrap_or("");
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if handshake_body.is_some() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        transport.queue(request.as_bytes());
        let leftover = read_upgrade(&mut transport, &key, Instant::now() + target.timeout)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let ws = WebSocket::from_partially_read(transport, leftover, Role::Client, Some(config));
        Ok(Connection { ws })
    }

    pub fn socket(&self) -> &TcpStream {
        self.ws.get_ref().socket()
    }

    /// Queues a text frame and sends what the socket takes now.
    pub fn write_text(&mut self, text: String) -> Result<(), ClientError> {
        self.ws.write(Message::text(text)).map_err(closed)?;
        self.flush()
    }

    pub fn flush(&mut self) -> Result<(), ClientError> {
        match self.ws.flush() {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(closed(e)),
        }
    }

    /// A text frame if one is available now.
    pub fn try_recv(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Ok(Some(t.as_str().to_owned())),
                Ok(Message::Close(_)) => {
                    return Err(ClientError::Closed("closed by the platform".into()))
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok(None)
                }
                Err(e) => return Err(closed(e)),
            }
        }
    }

    /// Sends a text frame and waits until it has left.
    pub fn send(&mut self, text: String, timeout: Duration) -> Result<(), ClientError> {
        self.write_text(text)?;
        let deadline = Instant::now() + timeout;
        while self.ws.get_ref().wants_write() {
            self.wait(None, deadline)?;
            self.flush()?;
        }
        Ok(())
    }

    /// The next text frame, waiting up to `timeout`; `None` on time-out.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<String>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(text) = self.try_recv()? {
                return Ok(Some(text));
            }
            self.flush()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
            self.wait(None, deadline)?;
        }
    }

    /// Sleeps until the socket (or `extra`) is ready, or `deadline`.
    pub fn wait(&self, extra: Option<&dyn AsFd>, deadline: Instant) -> Result<(), ClientError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let sock = self.ws.get_ref();
        let extra_fd = extra.map(|fd| fd.as_fd());
        let mut fds = vec![poll::watch(sock.socket(), true, sock.wants_write())];
        if let Some(fd) = &extra_fd {
            fds.push(poll::watch(fd, true, false));
        }
        poll::wait(&mut fds, timeout).map_err(|e| ClientError::Closed(e.to_string()))
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

fn closed(e: tungstenite::Error) -> ClientError {
    ClientError::Closed(e.to_string())
}

/// `(tls, host, port, path)` of a `wss://` or `ws://` URL.
fn parse_url(url: &str) -> Result<(bool, String, u16, String), ClientError> {
    let bad = || ClientError::Connect(format!("not a ws:// or wss:// URL: {url}"));
    let (tls, rest) = match url.split_once("://") {
        Some(("wss", rest)) => (true, rest),
        Some(("ws", rest)) => (false, rest),
        _ => return Err(bad()),
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    Ok((tls, host.trim_matches(['[', ']']).to_owned(), port, path))
}

fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| ClientError::Connect(format!("trusted certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientError::Connect(format!("trusted certificate: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Connect(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads the 101 answer; returns bytes that came after it.
fn read_upgrade(t: &mut Transport, key: &str, deadline: Instant) -> Result<Vec<u8>, ClientError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        t.flush().map_err(|e| ClientError::Connect(e.to_string()))?;
        match t.read(&mut chunk) {
            Ok(0) => return Err(ClientError::Connect("closed during the handshake".into())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(ClientError::Connect("handshake timed out".into()));
                }
                let mut fds = [poll::watch(t.socket(), true, t.wants_write())];
                poll::wait(&mut fds, deadline - now)
                    .map_err(|e| ClientError::Connect(e.to_string()))?;
                continue;
            }
            Err(e) => return Err(ClientError::Connect(e.to_string())),
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = resp.parse(&buf) else {
            continue;
        };
        if resp.code != Some(101) {
            let text = String::from_utf8_lossy(&buf[len..]).into_owned();
            return Err(ClientError::Connect(format!(
                "upgrade refused: {:?} {text}",
                resp.code
            )));
        }
        let want = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let accept = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"));
        if accept.map(|h| h.value) != Some(want.as_bytes()) {
            return Err(ClientError::Connect("bad Sec-WebSocket-Accept".into()));
        }
        return Ok(buf.split_off(len));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls() {
        let p = super::parse_url("wss://127.0.0.1:8888/websocket").unwrap();
        assert_eq!(p, (true, "127.0.0.1".into(), 8888, "/websocket".into()));
        let p = super::parse_url("ws://example.org").unwrap();
        assert_eq!(p, (false, "example.org".into(), 80, "/".into()));
        assert!(super::parse_url("http://x").is_err());
    }
}
