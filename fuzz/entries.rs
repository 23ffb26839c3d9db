//! The fuzz targets' entry functions, one per mechanism that reads hostile
//! bytes. `fuzz/fuzz_targets/*.rs` call them under libFuzzer and
//! `tests/integration/fuzz_corpus.rs` feeds them every file of
//! `fuzz/corpus/<target>/`, so that the replay runs exactly what was fuzzed.
//!
//! Each takes any bytes, must not panic, and asserts what its mechanism
//! promises beyond "no panic": the head given to tiny_http parses back to
//! the same request, an answer ends at the same byte however it is split, a
//! cookie we sign verifies, an envelope that opens is never accepted twice.

use sse_platform::auth::cookie::CookieSigner;
use sse_platform::config::Config;
use sse_platform::http::params::{decode, parse_urlencoded};
use sse_platform::http::request::{Method, Req};
use sse_platform::hub::envelope::{self, Refused};
use sse_platform::hub::keys::{self, Keys};
use sse_platform::hub::replay::ReplayGuard;
use sse_platform::listener::answer::{Answer, Fed};
use sse_platform::listener::{frame_head, Framed, Reject};
use sse_platform::net::head::{self, Parsed, MAX_HEAD_BYTES, PEER_HEADER};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

/// Small, so that 413 is reachable.
const MAX_BODY: usize = 4096;
const NOW: i64 = 1_700_000_100;
/// The secret of tests/data/vectors.json's Tornado cookie.
const COOKIE_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// What a target runs on each input.
pub type Entry = fn(&[u8]);

/// The names of the targets, as `fuzz/corpus/<name>/` and the binaries.
pub const TARGETS: [(&str, Entry); 5] = [
    ("http_framing", http_framing),
    ("params", params),
    ("cookie", cookie),
    ("envelope", envelope),
    ("config", config),
];

/// The first byte picks the side: even, a client's byte stream as the
/// bridge frames it into requests; odd, an answer of tiny_http as the
/// bridge finds its end (bit 1: to a HEAD request; the rest: how to split
/// the stream into reads).
pub fn http_framing(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        requests(rest);
    } else {
        answer(rest, mode & 2 != 0, usize::from(mode >> 2) + 1);
    }
}

/// Frames requests one after the other, as a pipelining client sends them.
fn requests(mut buf: &[u8]) {
    let peer: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let trusted: [IpAddr; 1] = [IpAddr::from([127, 0, 0, 1])];
    loop {
        let (head, body) = match frame_head(buf, MAX_BODY) {
            Framed::Head { head, body } => (head, body),
            Framed::Partial => return assert!(buf.len() <= MAX_HEAD_BYTES),
            Framed::Refused(reject) => return refused(reject),
        };
        assert!(head.len <= buf.len() && head.len <= MAX_HEAD_BYTES);
        assert!(body <= MAX_BODY);
        let client = head.client(peer, &trusted);
        let _ = (head.path(), head.wants_close(), head.expects_continue());
        let _ = head.is_websocket_upgrade();
        let out = head.for_backend(client, true, body);
        assert!(
            out.iter()
                .all(|&b| matches!(b, b'\r' | b'\n' | b'\t' | 0x20..=0x7e)),
            "the head for tiny_http is printable ASCII"
        );
        let Parsed::Complete(again) = head::parse(&out) else {
            panic!("the head for tiny_http does not parse: {out:?}");
        };
        assert_eq!(again.len, out.len(), "one head, nothing after it");
        assert_eq!(again.method, head.method);
        assert_eq!(again.body_length(), Ok(body), "the same body length");
        assert!(!again.is_websocket_upgrade() && !again.wants_close());
        let Some(next) = buf.get(head.len + body..) else {
            return; // The body has not all arrived.
        };
        if head.wants_close() {
            return;
        }
        buf = next;
    }
}

fn refused(reject: Reject) {
    let (status, reason) = reject.status_reason();
    assert!((400..500).contains(&status) && !reason.is_empty());
}

/// The end found when the stream comes whole and when it comes in reads of
/// `step` bytes must be the same byte.
fn answer(stream: &[u8], head_request: bool, step: usize) {
    let at_once = end_of(Answer::new(head_request), &[stream]);
    let reads: Vec<&[u8]> = stream.chunks(step).collect();
    let in_reads = end_of(Answer::new(head_request), &reads);
    assert_eq!(at_once, in_reads, "split in reads of {step}");
    if let Some(end) = at_once {
        assert!(end <= stream.len());
    }
}

/// Where the answer ends in the stream, or `None` if it does not.
fn end_of(mut answer: Answer, reads: &[&[u8]]) -> Option<usize> {
    let mut fed = 0;
    for read in reads {
        fed += read.len();
        if let Fed::Done { beyond } = answer.feed(read) {
            assert!(beyond <= read.len());
            return Some(fed - beyond);
        }
    }
    None
}

/// The first byte picks the content type; then the target up to the
/// first newline (tiny_http hands it over as a string); then the body.
pub fn params(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let (url, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let url = String::from_utf8_lossy(url);
    let content_type = match kind % 4 {
        0 => "application/json",
        1 => "application/x-www-form-urlencoded; charset=utf-8",
        2 => "text/plain",
        _ => "APPLICATION/JSON; charset=utf-8",
    };
    let headers = vec![
        ("content-type".to_owned(), content_type.to_owned()),
        ("cookie".to_owned(), url.to_string()),
        (PEER_HEADER.to_owned(), url.to_string()),
    ];
    match Req::from_parts(Method::Post, &url, headers, body) {
        Ok(req) => {
            assert!(url.starts_with(&req.path));
            for name in ["nickname", "password", "", "a"] {
                let _ = (req.param(name), req.flag(name), req.cookie(name));
                if let Ok(v) = req.require(name) {
                    assert!(!v.is_empty());
                }
            }
            let _ = req.client();
        }
        Err(e) => assert_eq!((e.status, e.reason), (400, "malformed_json")),
    }
    let text = String::from_utf8_lossy(body);
    for (k, v) in parse_urlencoded(&text) {
        assert!(k.len() + v.len() <= text.len(), "decoding never grows");
    }
    if !text.contains(['%', '+']) {
        assert_eq!(decode(&text), text, "nothing to decode");
    }
}

/// Verifies the bytes as a cookie, and signs them as a value: a cookie we
/// sign must verify to that value.
pub fn cookie(data: &[u8]) {
    let signer = CookieSigner::new(COOKIE_SECRET);
    let text = String::from_utf8_lossy(data);
    if let Some(value) = signer.verify("access_token", &text, NOW) {
        // Only a signature made with the secret opens it.
        let other = CookieSigner::new("another secret, 32 bytes long...");
        assert_eq!(other.verify("access_token", &text, NOW), None);
        let _ = value;
    }
    let signed = signer.sign("access_token", &text, NOW);
    assert_eq!(
        signer.verify("access_token", &signed, NOW).as_deref(),
        Some(&*text)
    );
    assert_eq!(signer.verify("other", &signed, NOW), None);
}

/// The keys of tests/data/vectors.json, whose signed messages seed the
/// corpus.
fn vector_keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/vectors.json")).unwrap_or_default();
        let text = vectors["verify_keys_json"].to_string();
        Keys::fixed(keys::parse(&text).unwrap_or_default())
    })
}

/// Opens the bytes as an envelope with the vectors' keys; one that opens is
/// signed by its origin and refused when it comes again. Also reads the
/// bytes as a `verify_keys.json`.
pub fn envelope(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = keys::parse(&text);
    let opened = envelope::open(&text, vector_keys());
    let Ok(v) = opened else {
        if serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.is_object()) {
            assert_eq!(opened.err(), Some(Refused::Signature));
        }
        return;
    };
    assert_eq!(
        v.inner.get("origin").and_then(|o| o.as_str()),
        Some(&*v.origin)
    );
    assert!(vector_keys().get(&v.origin).is_some());
    if let Some(id) = v.inner.get("resolve_id").and_then(|i| i.as_str()) {
        let guard = ReplayGuard::new(16);
        let now = Instant::now();
        assert!(guard.first_use(&v.origin, id, now));
        assert!(!guard.first_use(&v.origin, id, now), "a replay is refused");
    }
}

/// Loads the bytes as a config file; an error names the file.
pub fn config(data: &[u8]) {
    let path = Path::new("/nonexistent/fuzz/config.json");
    match Config::from_text(path, &String::from_utf8_lossy(data)) {
        Ok(config) => {
            let _ = (
                config.public_url(),
                config.cookie_secure(),
                config.tls_files(),
            );
            assert!(config.max_body_bytes >= 1024);
        }
        Err(e) => assert!(e
            .to_string()
            .starts_with("config /nonexistent/fuzz/config.json")),
    }
}
