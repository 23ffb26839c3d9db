//! No input crashes the server: seeded random bytes at every parser that
//! sees the outside (HTTP heads, bodies, cookies, WebSocket frames, signed
//! envelopes), after which the server still answers. Loopback only, bounded.

use crate::common;

use common::hub::{hub, raw, signer};
use common::{wait_until, RawConn, Server, Stream};
use serde_json::json;
use sse_platform::module_client::uuid4;
use std::io::Write;
use std::time::Duration;

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() as usize) % max;
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Mostly printable noise with HTTP-ish separators, to get past the
    /// first parser more often than pure random bytes would.
    fn text(&mut self, max: usize) -> String {
        const ALPHABET: &[u8] = b"abcXYZ019 :/?=&%+-_.;,\"'{}[]\r\n\t\\|";
        let len = (self.next() as usize) % max;
        (0..len)
            .map(|_| ALPHABET[(self.next() as usize) % ALPHABET.len()] as char)
            .collect()
    }
}

fn still_serving(server: &Server) {
    assert_eq!(
        server.client().get("/login").status,
        200,
        "server no longer answers"
    );
}

/// What became of garbage request `i`: the connection closed unanswered
/// (0), or an answer, whose status is returned; an answer is a 4xx in the
/// protocol's JSON error shape. Never a 5xx or a success, never a
/// connection left hanging.
#[track_caller]
fn answer_or_close<S: Stream>(conn: &mut RawConn<S>, i: usize) -> u16 {
    let r = match conn.read_response(Duration::from_secs(3)) {
        Ok(r) => r,
        Err(e) => {
            assert!(
                conn.wait_closed(Duration::from_secs(3)).is_some(),
                "request {i}: neither answered nor closed ({e})"
            );
            return 0;
        }
    };
    let what = format!("request {i}: {} {}", r.status, r.body);
    assert!((400..500).contains(&r.status), "{what}");
    let v = r.json();
    assert_eq!(v["status"], r.status, "{what}");
    assert!(v["reason"].is_string(), "{what}");
    assert_eq!(v["success"], false, "{what}");
    assert!(v["redirect_suggestions"].is_array(), "{what}");
    r.status
}

#[test]
fn random_http_requests_get_answers_or_closed_connections_never_a_crash() {
    let mut server = Server::start(json!({"header_timeout_seconds": 2}), &[]);
    let mut noise = Noise(0x5EED_0001);
    let mut outcomes = Vec::new();
    let paths = [
        "/login",
        "/register",
        "/roles",
        "/users",
        "/delete_account",
        "/password/change",
        "/forgot_password",
        "/websocket",
        "/css/x",
    ];
    for i in 0..150 {
        let mut conn = server.raw_tls();
        let request = match i % 3 {
            // Random bytes where a head should be.
            0 => noise.bytes(2048),
            // A plausible head with random headers and body.
            1 => {
                let body = noise.text(512);
                format!(
                    "POST {}?{} HTTP/1.1\r\nHost: x\r\nContent-Type: application/{}\r\nCookie: access_token={}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
                    paths[i % paths.len()], noise.text(64), if i % 2 == 0 { "json" } else { "x-www-form-urlencoded" },
                    noise.text(80), noise.text(60), body.len()
                ).into_bytes()
            }
            // Random header lines.
            _ => format!(
                "GET {} HTTP/1.1\r\n{}\r\n\r\n",
                paths[i % paths.len()],
                noise.text(1024)
            )
            .into_bytes(),
        };
        let _ = conn.send(&request);
        outcomes.push(answer_or_close(&mut conn, i));
    }
    eprintln!("answers by status (0: closed unanswered): {outcomes:?}");
    still_serving(&server);
    assert!(server.is_running());
    let log = server.settled_log();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
}

#[test]
fn random_websocket_messages_get_error_replies_and_the_hub_lives_on() {
    let server = hub(json!({"hub_max_bad_messages": 1000}));
    let mut noise = Noise(0x5EED_0002);
    let mut conn = raw(&server, "ListServ");
    let s = signer("ListServ");
    for i in 0..300 {
        let text = match i % 3 {
            0 => noise.text(300),
            1 => json!({"signed_msg": noise.text(120), "origin": "ListServ", "resolve_id": noise.text(10)}).to_string(),
            // Validly signed, with random fields and types.
            _ => {
                let mut inner = serde_json::Map::new();
                for _ in 0..(noise.next() % 5) {
                    let value = match noise.next() % 4 { 0 => json!(noise.text(20)), 1 => json!(noise.next() % 70_000), 2 => json!(null), _ => json!([noise.text(5)]) };
                    inner.insert(["type", "username", "port", "module_name", "to", "access_token", "url"][(noise.next() % 7) as usize].into(), value);
                }
                if i % 2 == 0 {
                    let kinds = ["module_start", "get_user", "token_validation", "message_module", "check_permission", "user_logout", "nonsense"];
                    inner.insert("type".into(), json!(kinds[(noise.next() % 7) as usize]));
                }
                s.envelope(inner, &uuid4())
            }
        };
        conn.send(text, Duration::from_secs(5))
            .expect("the connection stays open");
    }
    // Every message is answered or forwarded; the connection still works.
    let v = common::hub::signed(&mut conn, &s, json!({"type": "get_running_modules"}));
    assert_eq!(v["type"], "get_running_modules_response");
    assert!(!server.settled_log().contains("panicked"));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let _ = stream.write_all(&Noise(7).bytes(4096));
    assert!(wait_until(Duration::from_secs(5), || server
        .client()
        .get("/login")
        .status
        == 200));
}
