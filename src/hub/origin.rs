//! Which pages may open a WebSocket to the hub.
//!
//! Browsers do not apply the same-origin policy to WebSockets: any page
//! the user visits may open one here, and the browser adds the user's
//! cookies and its own `Origin`. Modules are not browsers and send no
//! `Origin` (the Python client's tornado and our `module_client` add none),
//! so a request without one is a module's and passes; one with an `Origin`
//! passes only from our own site (its host and port are the request's
//! `Host`, over https, or http in `--dev`) or from an origin listed in
//! `websocket_allowed_origins`. Anything unclear is refused: several
//! `Origin` headers, the old drafts' `Sec-WebSocket-Origin` beside or
//! instead of it, `null`, a value that is not a canonical origin
//! (`crate::origin`), or no single parseable `Host`.

use crate::net::head::Head;
use crate::origin::{self, Origin, Scheme};

/// Whether an upgrade with this head may go on; `listed` is
/// `websocket_allowed_origins`.
pub fn allowed(head: &Head, dev: bool, listed: &[Origin]) -> bool {
    let mut claimed = head
        .headers
        .iter()
        .filter(|(name, _)| name == "origin" || name == "sec-websocket-origin")
        .map(|(_, value)| value);
    let Some(value) = claimed.next() else {
        return true;
    };
    if claimed.next().is_some() {
        return false;
    }
    let Some(origin) = std::str::from_utf8(value)
        .ok()
        .and_then(|v| origin::parse(v.trim()))
    else {
        return false;
    };
    listed.contains(&origin) || same_site(dev, head, &origin)
}

/// Whether `origin` is the site the request was sent to.
fn same_site(dev: bool, head: &Head, origin: &Origin) -> bool {
    if origin.scheme == Scheme::Http && !dev {
        return false;
    }
    let mut hosts = head.headers.iter().filter(|(name, _)| name == "host");
    let (Some((_, host)), None) = (hosts.next(), hosts.next()) else {
        return false;
    };
    std::str::from_utf8(host)
        .ok()
        .and_then(|h| origin::host_and_port(h.trim(), origin.scheme.default_port()))
        .is_some_and(|(host, port)| host == origin.host && port == origin.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::head::{parse, Parsed};

    fn head(lines: &str) -> Head {
        let text = format!("GET /websocket HTTP/1.1\r\n{lines}\r\n");
        match parse(text.replace('|', "\r\n").as_bytes()) {
            Parsed::Complete(head) => head,
            _ => panic!("not a head: {lines}"),
        }
    }

    fn ok(lines: &str) -> bool {
        let listed = [origin::parse("https://app.example").unwrap()];
        allowed(&head(lines), false, &listed)
    }

    #[test]
    fn modules_send_no_origin_and_pass() {
        assert!(ok("Host: lab.example:8888|"));
        assert!(ok(""));
    }

    #[test]
    fn our_own_site_passes_in_every_spelling_of_its_host() {
        assert!(ok(
            "Host: lab.example:8888|Origin: https://lab.example:8888|"
        ));
        assert!(ok(
            "Host: LAB.example:8888|Origin: https://lab.EXAMPLE:8888|"
        ));
        assert!(ok("Host: lab.example|Origin: https://lab.example|"));
        assert!(ok("Host: lab.example:443|Origin: https://lab.example|"));
        assert!(ok("Host: [::1]:8888|Origin: https://[0::1]:8888|"));
    }

    #[test]
    fn listed_origins_pass_whatever_the_host() {
        assert!(ok("Host: lab.example:8888|Origin: https://app.example|"));
        assert!(ok(
            "Host: lab.example:8888|Origin: https://app.example:443|"
        ));
        assert!(!ok("Host: lab.example:8888|Origin: http://app.example|"));
    }

    #[test]
    fn other_sites_and_unclear_origins_are_refused() {
        for lines in [
            "Host: lab.example:8888|Origin: https://evil.example|",
            "Host: lab.example:8888|Origin: https://lab.example:8889|",
            "Host: lab.example:8888|Origin: https://lab.example|",
            "Host: lab.example:8888|Origin: http://lab.example:8888|",
            "Host: lab.example:8888|Origin: https://lab.example:8888/|",
            "Host: lab.example:8888|Origin: null|",
            "Host: lab.example:8888|Origin: |",
            "Host: lab.example:8888|Origin: https://u@lab.example:8888|",
            "Host: lab.example:8888|Origin: https://lab.example.evil:8888|",
            "Host: lab.example:8888|Origin: https://lab.example:8888|Origin: https://lab.example:8888|",
            "Host: lab.example:8888|Origin: https://lab.example:8888|Sec-WebSocket-Origin: https://evil.example|",
            "Host: lab.example:8888|Sec-WebSocket-Origin: https://evil.example|",
            "Host: lab.example:8888|Sec-WebSocket-Origin: null|",
            "Host: lab.example:8888|Host: evil.example|Origin: https://lab.example:8888|",
            "Origin: https://lab.example:8888|",
            "Host: lab.example:8888/x|Origin: https://lab.example:8888|",
        ] {
            assert!(!ok(lines), "{lines}");
        }
    }

    #[test]
    fn plain_http_pages_are_our_own_only_in_dev_mode() {
        let h = head("Host: localhost:8888|Origin: http://localhost:8888|");
        assert!(allowed(&h, true, &[]));
        assert!(!allowed(&h, false, &[]));
    }
}
