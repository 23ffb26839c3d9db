//! Web origins (`scheme://host[:port]`, RFC 6454) as browsers send them in
//! `Origin`, and the `Host` they are compared with.
//!
//! A browser lets any page open a WebSocket to any site, carrying the
//! user's cookies and its own `Origin`; the server is the one that must say
//! no. So parsing is strict: browsers serialise an origin in one canonical
//! form (lower-case, punycode, no default port, no path), and anything else
//! (`null`, userinfo, a path or trailing slash, percent-encoding, non-ASCII,
//! a leading `+` or zero in the port) is not an origin here, and is refused
//! by whoever asked. ASCII case is folded, as DNS folds it.

use std::fmt;
use std::net::Ipv6Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A parsed origin: the host in lower case (IPv6 in brackets, in its
/// canonical text), the port made explicit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Parses one serialised origin; `None` for anything a browser would not
/// send for an http or https page.
pub fn parse(text: &str) -> Option<Origin> {
    let (scheme, authority) = text.split_once("://")?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        return None;
    };
    let (host, port) = host_and_port(authority, scheme.default_port())?;
    Some(Origin { scheme, host, port })
}

/// A `Host` header (`host[:port]`) as a lower-case host and a port, with
/// `default_port` when it names none.
pub fn host_and_port(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => {
            let (inside, after) = v6.split_once(']')?;
            let ip: Ipv6Addr = inside.parse().ok()?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (format!("[{ip}]"), port)
        }
        None => {
            let (host, port) = match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            };
            (reg_name(host)?, port)
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => port_number(p)?,
    };
    Some((host, port))
}

/// A DNS name or IPv4 address: letters, digits, `-` and `.` only, no empty
/// label, no trailing dot (a different origin that browsers keep apart).
fn reg_name(host: &str) -> Option<String> {
    let fine = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
    if host.is_empty() || !host.bytes().all(fine) || host.split('.').any(str::is_empty) {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// 1 to 65535 in plain decimal, without sign or leading zero.
fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || text.starts_with('0') {
        return None;
    }
    if !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(scheme: Scheme, host: &str, port: u16) -> Option<Origin> {
        Some(Origin {
            scheme,
            host: host.into(),
            port,
        })
    }

    #[test]
    fn canonical_origins_parse_with_their_ports_made_explicit() {
        use Scheme::*;
        assert_eq!(parse("https://lab.example"), o(Https, "lab.example", 443));
        assert_eq!(parse("http://lab.example"), o(Http, "lab.example", 80));
        assert_eq!(
            parse("https://lab.example:8888"),
            o(Https, "lab.example", 8888)
        );
        assert_eq!(parse("HTTPS://Lab.EXAMPLE"), o(Https, "lab.example", 443));
        assert_eq!(parse("https://127.0.0.1:1"), o(Https, "127.0.0.1", 1));
        assert_eq!(parse("https://[::1]:8888"), o(Https, "[::1]", 8888));
        assert_eq!(parse("https://[0:0::1]"), o(Https, "[::1]", 443));
        assert_eq!(
            parse("https://xn--bcher-kva.example"),
            o(Https, "xn--bcher-kva.example", 443)
        );
    }

    #[test]
    fn everything_a_browser_would_not_send_is_refused() {
        for text in [
            "null",
            "",
            "https://",
            "https://lab.example/",
            "https://lab.example/path",
            "https://lab.example?x",
            "https://lab.example#x",
            "https://user@lab.example",
            "https://user:pw@lab.example",
            "https://lab%2eexample",
            "https://bücher.example",
            "https://lab.example:",
            "https://lab.example:0",
            "https://lab.example:08888",
            "https://lab.example:+443",
            "https://lab.example:65536",
            "https://lab.example:443:443",
            "https://lab.example.",
            "https://.lab.example",
            "https://lab..example",
            "https://[::1",
            "https://[::1]x",
            "https://[nope]",
            "https://lab.example https://evil.example",
            "https://lab.example, https://evil.example",
            " https://lab.example",
            "ws://lab.example",
            "file://",
            "lab.example",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn host_headers_take_the_default_port_of_the_scheme() {
        assert_eq!(
            host_and_port("lab.example", 443),
            Some(("lab.example".into(), 443))
        );
        assert_eq!(
            host_and_port("LAB.example:8888", 443),
            Some(("lab.example".into(), 8888))
        );
        assert_eq!(host_and_port("[::1]:80", 443), Some(("[::1]".into(), 80)));
        assert_eq!(host_and_port("lab.example:x", 443), None);
        assert_eq!(host_and_port("", 443), None);
    }
}
