//! HTTP/1.1 request heads: parsed with httparse so that the listener can
//! route (HTTP or WebSocket), enforce limits and frame request bodies before
//! anything reaches tiny_http.

use std::net::{IpAddr, SocketAddr};

/// Longest request head accepted (431 beyond).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// Headers the listener sets for tiny_http; a client's own are dropped.
pub const PEER_HEADER: &str = "x-sse-peer";
pub const TLS_HEADER: &str = "x-sse-tls";

#[derive(Debug)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub minor_version: u8,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes of the head, including the blank line.
    pub len: usize,
}

pub enum Parsed {
    Complete(Head),
    Partial,
    Invalid,
}

pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => Parsed::Complete(Head {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            minor_version: req.version.unwrap_or(1),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                .collect(),
            len,
        }),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
    }
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// `Ok(length)` of the body; `Err` for a length we cannot frame.
    pub fn body_length(&self) -> Result<usize, BodyError> {
        if self.headers.iter().any(|(n, _)| n == "transfer-encoding") {
            return Err(BodyError::Chunked);
        }
        let mut lengths = self.headers.iter().filter(|(n, _)| n == "content-length");
        let Some((_, first)) = lengths.next() else {
            return Ok(0);
        };
        if lengths.any(|(_, v)| v != first) {
            return Err(BodyError::Invalid);
        }
        std::str::from_utf8(first)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(BodyError::Invalid)
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        let has = |name: &str, word: &str| {
            self.header(name)
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(word)))
        };
        self.method == "GET" && has("upgrade", "websocket") && has("connection", "upgrade")
    }

    /// The client behind `peer`: `peer` itself, unless it is a trusted
    /// proxy; then the rightmost `X-Forwarded-For` address that is not a
    /// trusted proxy (each proxy appends the address it got the request
    /// from, so entries left of that one are the client's to forge). An
    /// entry that is not an address stops the walk: `peer` is used.
    pub fn client(&self, peer: SocketAddr, trusted: &[IpAddr]) -> SocketAddr {
        if !trusted.contains(&peer.ip()) {
            return peer;
        }
        let hops: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == "x-forwarded-for")
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer.ip();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted.contains(&ip) {
                        break;
                    }
                }
                Err(_) => return peer,
            }
        }
        SocketAddr::new(client, 0)
    }

    /// Whether the client wants the connection closed after this request
    /// (`Connection: close`, or HTTP/1.0 without `keep-alive`).
    pub fn wants_close(&self) -> bool {
        let tokens = self.connection_tokens();
        tokens.iter().any(|t| t.eq_ignore_ascii_case("close"))
            || (self.minor_version == 0
                && !tokens.iter().any(|t| t.eq_ignore_ascii_case("keep-alive")))
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    fn connection_tokens(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect()
    }

    /// The head as tiny_http gets it, written by the listener in one
    /// canonical form: the method, the target with every byte outside
    /// printable ASCII percent-encoded, the headers handlers read (a value
    /// that is not printable ASCII is dropped), the body's length, a
    /// `Connection` the listener chose, and the listener's own `x-sse-*`
    /// headers. Nothing a client spells reaches tiny_http's own heuristics
    /// (upgrades, `Expect`, `TE`, line rules). The connection to tiny_http is
    /// always kept alive: a client's `close` is the bridge's to carry out,
    /// and the backend connection may serve the next client (`backends`).
    pub fn for_backend(&self, peer: SocketAddr, tls: bool, body: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len + 64);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        push_target(&mut out, self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &self.headers {
            if FOR_HANDLERS.contains(&name.as_str()) && is_plain(value) {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value.trim_ascii());
                out.extend_from_slice(b"\r\n");
            }
        }
        if body > 0 {
            out.extend_from_slice(format!("content-length: {body}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "connection: keep-alive\r\n{PEER_HEADER}: {peer}\r\n{TLS_HEADER}: {}\r\n\r\n",
                u8::from(tls)
            )
            .as_bytes(),
        );
        out
    }
}

/// The request headers handlers read; tiny_http sees no others.
const FOR_HANDLERS: [&str; 7] = [
    "host",
    "content-type",
    "cookie",
    "authorization",
    "origin",
    "sec-fetch-site",
    "user-agent",
];

/// Printable ASCII and tabs only: tiny_http refuses other bytes in a head.
fn is_plain(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The request target, every byte outside `!`..`~` percent-encoded.
fn push_target(out: &mut Vec<u8>, target: &[u8]) {
    for &b in target {
        if (0x21..0x7f).contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    Chunked,
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse(text.as_bytes()) {
            Parsed::Complete(h) => h,
            _ => panic!("incomplete head"),
        }
    }

    #[test]
    fn partial_and_invalid() {
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nHost: a"),
            Parsed::Partial
        ));
        assert!(matches!(
            parse(b"\x00\x01 nonsense\r\n\r\n"),
            Parsed::Invalid
        ));
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_comes_from_x_forwarded_for() {
        let proxy: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let trusted: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let client = |xff: &str, peer: SocketAddr, trusted: &[IpAddr]| {
            let text = format!("GET / HTTP/1.1\r\nX-Forwarded-For: {xff}\r\n\r\n");
            head(&text).client(peer, trusted).ip().to_string()
        };
        assert_eq!(client("203.0.113.5", proxy, &trusted), "203.0.113.5");
        // The client may send its own header: only the proxy's last entry counts.
        assert_eq!(
            client("6.6.6.6, 203.0.113.5", proxy, &trusted),
            "203.0.113.5"
        );
        // A chain of trusted proxies is skipped.
        assert_eq!(
            client("203.0.113.5, 10.0.0.2", proxy, &trusted),
            "203.0.113.5"
        );
        assert_eq!(client("2001:db8::7", proxy, &trusted), "2001:db8::7");
        assert_eq!(client("not-an-address", proxy, &trusted), "10.0.0.1");
        // From anyone else the header means nothing.
        let direct: SocketAddr = "198.51.100.1:5000".parse().unwrap();
        assert_eq!(client("203.0.113.5", direct, &trusted), "198.51.100.1");
        assert_eq!(client("203.0.113.5", proxy, &[]), "10.0.0.1");
        let bare = head("GET / HTTP/1.1\r\n\r\n");
        assert_eq!(bare.client(proxy, &trusted).ip(), proxy.ip(), "no header");
    }

    #[test]
    fn body_lengths() {
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").body_length(),
            Ok(12)
        );
        assert_eq!(head("GET / HTTP/1.1\r\n\r\n").body_length(), Ok(0));
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(head(chunked).body_length(), Err(BodyError::Chunked));
        let two = "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(head(two).body_length(), Err(BodyError::Invalid));
    }

    fn backend(text: &str) -> String {
        let h = head(text);
        String::from_utf8(h.for_backend("127.0.0.1:9".parse().unwrap(), true, 0)).unwrap()
    }

    #[test]
    fn backend_head_drops_forged_peer() {
        let out = backend("GET /a?b=c HTTP/1.1\r\nX-SSE-Peer: 6.6.6.6:1\r\nHost: x\r\n\r\n");
        assert!(
            out.starts_with("GET /a?b=c HTTP/1.1\r\nhost: x\r\n"),
            "{out}"
        );
        assert!(!out.contains("6.6.6.6"));
        assert!(out.ends_with("x-sse-peer: 127.0.0.1:9\r\nx-sse-tls: 1\r\n\r\n"));
    }

    #[test]
    fn backend_head_never_carries_the_clients_connection_words() {
        for connection in [
            "keep-alive, Upgrade",
            "keep-alive, x-upgrade",
            "?Upgrade",
            "upgrade",
            "close, upgrade",
            "Keep-Alive,UPGRADE",
        ] {
            let text = format!(
                "GET /main HTTP/1.1\r\nConnection: {connection}\r\nUpgrade: h2c\r\nExpect: 100-continue\r\nTE: chunked\r\nTransfer-Encoding: x\r\n\r\n"
            );
            let out = backend(&text).to_ascii_lowercase();
            assert!(!out.contains("upgrade"), "{out}");
            assert!(!out.contains("expect"), "{out}");
            assert!(!out.contains("te:"), "{out}");
            assert!(!out.contains("transfer-encoding"), "{out}");
            assert_eq!(
                out.matches("connection: keep-alive\r\n").count(),
                1,
                "{out}"
            );
        }
    }

    #[test]
    fn backend_head_is_printable_ascii() {
        // A target that is not UTF-8 is refused (the bridge answers 400);
        // header values may hold any byte but control characters.
        assert!(matches!(
            parse(b"GET /\xff HTTP/1.1\r\n\r\n"),
            Parsed::Invalid
        ));
        let raw = b"GET /caf\xc3\xa9?q=%FF HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\r\nHost: x\r\nCookie: a\x80b\r\n\r\n";
        let Parsed::Complete(h) = parse(raw) else {
            panic!("httparse accepts obs-text in values")
        };
        let out = h.for_backend("127.0.0.1:9".parse().unwrap(), false, 5);
        assert!(out
            .iter()
            .all(|&b| b == b'\r' || b == b'\n' || (0x20..0x7f).contains(&b)));
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.starts_with("GET /caf%C3%A9?q=%FF HTTP/1.1\r\n"),
            "{out}"
        );
        assert!(
            !out.contains("user-agent") && !out.contains("cookie"),
            "{out}"
        );
        assert!(out.contains("host: x\r\ncontent-length: 5\r\nconnection: keep-alive\r\n"));
    }

    #[test]
    fn close_and_continue() {
        assert!(head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").wants_close());
        assert!(head("GET / HTTP/1.0\r\n\r\n").wants_close());
        assert!(!head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").wants_close());
        assert!(!head("GET / HTTP/1.1\r\nConnection: x-close\r\n\r\n").wants_close());
        assert!(head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expects_continue());
    }

    #[test]
    fn websocket_upgrade_detection() {
        let up = "GET /websocket HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        assert!(head(up).is_websocket_upgrade());
        assert!(!head("GET /websocket HTTP/1.1\r\n\r\n").is_websocket_upgrade());
    }
}
