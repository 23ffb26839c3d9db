//! The front door: timeouts against slow clients, the per-address cap,
//! request framing limits, path traversal, the trusted peer header,
//! keep-alive, stray plain HTTP, and `"tls": false`.

use crate::common;

use common::Server;
use serde_json::json;
use std::time::Duration;

const GET_LOGIN: &[u8] = b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// The server still serves a plain page request.
#[track_caller]
fn assert_serves(server: &Server) {
    let r = server.client().get("/login");
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn silent_tcp_client_is_dropped_after_the_header_timeout() {
    let server = Server::start(json!({"header_timeout_seconds": 1}), &[]);
    let mut silent = server.raw_tcp();
    assert_serves(&server);
    let closed = silent
        .wait_closed(Duration::from_secs(5))
        .expect("silent client still connected after 5 s");
    assert!(
        closed >= Duration::from_millis(500),
        "closed early: {closed:?}"
    );
    assert_serves(&server);
}

#[test]
fn tls_client_sending_half_a_head_is_dropped_after_the_header_timeout() {
    let server = Server::start(json!({"header_timeout_seconds": 1}), &[]);
    let mut slow = server.raw_tls();
    slow.send(b"GET /login HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    assert_serves(&server);
    let closed = slow
        .wait_closed(Duration::from_secs(5))
        .expect("half a head kept the connection for 5 s");
    assert!(
        closed >= Duration::from_millis(500),
        "closed early: {closed:?}"
    );
    assert_serves(&server);
}

#[test]
fn trickling_head_is_dropped_at_the_header_deadline_despite_activity() {
    let server = Server::start(json!({"header_timeout_seconds": 1}), &[]);
    let mut slow = server.raw_tls();
    let start = std::time::Instant::now();
    let mut closed = false;
    for byte in b"GET /login HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if slow.send(&[*byte]).is_err() || !slow.is_open(Duration::from_millis(150)) {
            closed = true;
            break;
        }
    }
    let took = start.elapsed();
    assert!(
        closed,
        "a byte every 150 ms kept the head open for {took:?}"
    );
    assert!(took < Duration::from_secs(4), "dropped only after {took:?}");
    assert_serves(&server);
}

#[test]
fn idle_keep_alive_connection_after_a_request_is_kept_until_idle_timeout() {
    let server = Server::start(
        json!({"header_timeout_seconds": 1, "idle_timeout_seconds": 3}),
        &[],
    );
    let mut conn = server.raw_tls();
    assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
    // Between requests the idle timeout applies, not the header timeout.
    assert!(conn.is_open(Duration::from_millis(1800)));
    assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
    conn.wait_closed(Duration::from_secs(6))
        .expect("idle connection never closed");
}

#[test]
fn connections_over_the_per_address_cap_are_closed_at_once() {
    let server = Server::start(
        json!({
            "max_connections_per_ip": 3,
            "header_timeout_seconds": 10,
        }),
        &[],
    );
    let mut held: Vec<_> = (0..3).map(|_| server.raw_tcp()).collect();
    // The accept loop takes connections in order; once the fourth is
    // refused, the first three hold their places.
    let mut extra = server.raw_tcp();
    let closed = extra
        .wait_closed(Duration::from_secs(3))
        .expect("fourth connection was served");
    // At once, not after the 10 s header timeout (margin for a slow machine).
    assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
    for conn in &mut held {
        assert!(conn.is_open(Duration::from_millis(50)));
    }
    // A freed place is usable again.
    held.pop().unwrap().shutdown();
    let served = common::wait_until(Duration::from_secs(5), || {
        let Ok(mut conn) = server.try_raw_tls() else {
            return false;
        };
        conn.send(GET_LOGIN).is_ok()
            && conn
                .read_response(Duration::from_secs(2))
                .is_ok_and(|r| r.status == 200)
    });
    assert!(served, "no place freed after closing a connection");
}

#[test]
fn body_over_max_body_bytes_is_413_with_the_json_error() {
    let server = Server::start(json!({"max_body_bytes": 2048}), &[]);
    let body = "a".repeat(4096);
    let mut conn = server.raw_tls();
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The head alone earns the answer; the body is never read.
    conn.send(request.as_bytes()).unwrap();
    let r = conn.read_response(Duration::from_secs(5)).expect("answer");
    r.assert_error(413, "request_body_too_large");
    assert_eq!(r.header("content-type"), Some("application/json"));

    // Sent whole through a client library, too.
    let c = server.client();
    let r = c.request(
        "POST",
        "/login",
        Some("application/x-www-form-urlencoded"),
        format!("nickname=bob&password={}", "x".repeat(3000)).into_bytes(),
    );
    r.assert_error(413, "request_body_too_large");
    // Just under the limit is fine.
    let r = c.post_form(
        "/login",
        &[("nickname", "bob"), ("password", &"x".repeat(1500))],
    );
    r.assert_error(409, "user_not_found");
}

#[test]
fn expect_100_continue_gets_continue_then_the_answer() {
    let server = Server::start(json!({}), &[]);
    let mut conn = server.raw_tls();
    let body = "nickname=nobody&password=whatever1";
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.send(head.as_bytes()).unwrap();
    let interim = conn
        .read_response(Duration::from_secs(5))
        .expect("100 Continue");
    assert_eq!(interim.status, 100);
    conn.send(body.as_bytes()).unwrap();
    let r = conn.read_response(Duration::from_secs(5)).expect("answer");
    r.assert_error(409, "user_not_found");
}

#[test]
fn malformed_heads_get_400_with_the_json_error() {
    let server = Server::start(json!({}), &[]);
    server
        .raw_tls()
        .roundtrip(b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: ten\r\n\r\n")
        .assert_error(400, "malformed_request");
    server
        .raw_tls()
        .roundtrip(b"\x01\x02 nonsense\r\n\r\n")
        .assert_error(400, "malformed_request");
    assert_serves(&server);
}

/// Regression: a head over 16 KiB that arrived in one piece was served when
/// it followed another request on the same connection (the limit was
/// checked on incomplete heads only).
#[test]
fn head_over_the_limit_is_431_even_when_it_arrives_whole() {
    let server = Server::start(json!({}), &[]);
    let big = format!(
        "GET /login HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    server
        .raw_tls()
        .roundtrip(big.as_bytes())
        .assert_error(431, "request_header_too_large");
    let mut conn = server.raw_tls();
    assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
    conn.roundtrip(big.as_bytes())
        .assert_error(431, "request_header_too_large");
    assert_serves(&server);
}

#[test]
fn chunked_request_body_is_411() {
    let server = Server::start(json!({}), &[]);
    let mut conn = server.raw_tls();
    let r = conn.roundtrip(
        b"POST /login HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    r.assert_error(411, "length_required");
    assert_serves(&server);
}

#[test]
fn path_traversal_finds_nothing() {
    let server = Server::start(json!({}), &[]);
    for path in [
        "/css/../Cargo.toml",
        "/css/%2e%2e/Cargo.toml",
        "/css/%2e%2e/%2e%2e/Cargo.toml",
        "/css/..%2f..%2fCargo.toml",
        "/html/../../etc/passwd",
        "/html/%2e%2e/%2e%2e/etc/passwd",
        "/img/....//....//etc/passwd",
        "/javascripts/../../src/main.rs",
        "/css//etc/passwd",
        "/css/../html/login.html",
    ] {
        let mut conn = server.raw_tls();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let r = conn.roundtrip(request.as_bytes());
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.contains("[package]") && !r.body.contains("root:"));
    }
    assert_eq!(server.client().get("/css/style.css").status, 200);
}

#[test]
fn forged_peer_header_does_not_change_the_logged_client() {
    let server = Server::start(json!({}), &[]);
    let mut conn = server.raw_tls();
    let r = conn.roundtrip(
        b"GET /forgot_password HTTP/1.1\r\nHost: localhost\r\nX-Sse-Peer: 6.6.6.6:66\r\nx-sse-tls: 0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let log = server.wait_for_log(Duration::from_secs(5), |log| {
        log.contains("GET /forgot_password 200")
    });
    let line = log
        .lines()
        .find(|l| l.contains("GET /forgot_password 200"))
        .unwrap();
    assert!(line.trim_end().ends_with("127.0.0.1"), "{line}");
    assert!(!log.contains("6.6.6.6"), "{log}");
}

/// Five failed logins with made-up names from `client`; then the sixth
/// answer (`login_max_failures_per_address` 5 allows 5 failures per address).
fn sixth_login_after_five_failures(client: &common::Client) -> common::Resp {
    for i in 0..5 {
        client
            .post_form(
                "/login",
                &[("nickname", &format!("ghost{i}")), ("password", "guess")],
            )
            .assert_error(409, "user_not_found");
    }
    client.post_form("/login", &[("nickname", "ghost9"), ("password", "guess")])
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_logged_and_limited() {
    let server = Server::start(
        json!({
            "tls": false, "trusted_proxies": ["127.0.0.1"], "login_max_failures_per_address": 5,
            "max_connections_per_ip": 2,
        }),
        &[],
    );
    let via_proxy = |client: &str| {
        server
            .client()
            .header("X-Forwarded-For", &format!("6.6.6.6, {client}"))
    };
    sixth_login_after_five_failures(&via_proxy("203.0.113.5"))
        .assert_error(429, "too_many_attempts");
    // Another client behind the same proxy is not locked out with it.
    via_proxy("203.0.113.6")
        .post_form("/login", &[("nickname", "ghost9"), ("password", "guess")])
        .assert_error(409, "user_not_found");
    let log = server.wait_for_log(Duration::from_secs(5), |log| log.contains("203.0.113.6"));
    assert!(
        log.contains("POST /login 409") && log.contains("203.0.113.5"),
        "{log}"
    );
    assert!(
        !log.contains("6.6.6.6"),
        "the client's own entry is not trusted:\n{log}"
    );
    // The proxy holds many connections: the per-address cap spares it.
    let mut conns: Vec<_> = (0..4).map(|_| server.raw_tcp()).collect();
    for conn in &mut conns {
        assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
    }
}

#[test]
fn x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let server = Server::start(
        json!({"tls": false, "login_max_failures_per_address": 5}),
        &[],
    );
    let spoofing = |client: &str| server.client().header("X-Forwarded-For", client);
    sixth_login_after_five_failures(&spoofing("203.0.113.5"))
        .assert_error(429, "too_many_attempts");
    spoofing("203.0.113.6")
        .post_form("/login", &[("nickname", "ghost9"), ("password", "guess")])
        .assert_error(429, "too_many_attempts");
    let log = server.settled_log();
    assert!(!log.contains("203.0.113."), "{log}");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = Server::start(json!({}), &[]);
    let mut conn = server.raw_tls();
    assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
    let css = conn.roundtrip(b"GET /css/style.css HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let body = "nickname=nobody&password=whatever1";
    let login = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.roundtrip(login.as_bytes())
        .assert_error(409, "user_not_found");
    // Two requests in one write (pipelined) get two answers, in order.
    conn.send(b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\nGET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let first = conn.read_response(Duration::from_secs(5)).unwrap();
    let second = conn.read_response(Duration::from_secs(5)).unwrap();
    assert_eq!((first.status, second.status), (404, 200));
}

#[test]
fn answers_stay_whole_and_in_order_whatever_requests_share_a_connection() {
    // The bridge leaves a finished answer unread until the next request
    // goes out, as long as it knows where answers end; a pipelined pair or
    // a HEAD request ends that for the connection. Every path, in turn.
    const CONFIG: &[u8] = b"GET /auth/config HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let server = Server::start(json!({}), &[]);
    let mut conn = server.raw_tls();
    for _ in 0..5 {
        let small = conn.roundtrip(CONFIG);
        assert_eq!(small.status, 200);
        assert!(small.body.contains("module_link_scheme"), "{}", small.body);
        let page = conn.roundtrip(GET_LOGIN);
        assert_eq!(page.status, 200);
        assert!(page.body.trim_end().ends_with("</html>"), "whole page");
    }
    let mut pipelined = CONFIG.to_vec();
    pipelined.extend_from_slice(GET_LOGIN);
    pipelined.extend_from_slice(CONFIG);
    conn.send(&pipelined).unwrap();
    let answers: Vec<_> = (0..3)
        .map(|_| conn.read_response(Duration::from_secs(5)).unwrap())
        .collect();
    assert!(answers[0].body.contains("module_link_scheme"));
    assert!(answers[1].body.contains("</html>"));
    assert!(answers[2].body.contains("module_link_scheme"));
    assert_eq!(conn.roundtrip(CONFIG).status, 200, "still serving");

    let mut conn = server.raw_tls();
    assert_eq!(conn.roundtrip(CONFIG).status, 200);
    conn.send(b"HEAD /auth/config HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(
        conn.read_head_response(Duration::from_secs(5)).unwrap(),
        200
    );
    for _ in 0..3 {
        let small = conn.roundtrip(CONFIG);
        assert!(small.body.contains("module_link_scheme"), "{}", small.body);
    }
}

#[test]
fn plain_http_on_the_tls_port_does_not_hurt_the_server() {
    let mut server = Server::start(json!({}), &[]);
    let mut plain = server.raw_tcp();
    plain.send(GET_LOGIN).unwrap();
    plain
        .wait_closed(Duration::from_secs(5))
        .expect("plain HTTP connection left open");
    let mut garbage = server.raw_tcp();
    garbage
        .send(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])
        .unwrap();
    garbage.wait_closed(Duration::from_secs(5)).expect("closed");
    assert_serves(&server);
    assert!(server.is_running());
}

#[test]
fn tls_false_serves_plain_http() {
    let server = Server::start(json!({"tls": false}), &[]);
    assert_eq!(server.scheme, "http");
    assert!(server.url("/").starts_with("http://127.0.0.1:"));
    let mut conn = server.raw_tcp();
    assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
    let c = server.client();
    let r = c.register_form("bob@example.org", "bob", "plain password");
    assert_eq!(r.status, 200);
    let cookie = r.set_cookie().unwrap();
    assert!(
        !cookie.contains("Secure"),
        "no Secure over plain HTTP: {cookie}"
    );
}

#[test]
fn sigterm_stops_the_server_and_removes_its_private_socket_folder() {
    let mut server = Server::start(json!({}), &[]);
    let pid = server.pid().expect("running");
    let prefix = format!("sse-platform-{pid}-");
    let mine = || {
        std::fs::read_dir(std::env::temp_dir())
            .expect("temp dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    };
    assert_eq!(mine(), 1, "the bridge socket lives in a private folder");
    let status = server.terminate().expect("exit status");
    assert!(status.success(), "{status}");
    assert_eq!(mine(), 0, "the folder is removed on SIGTERM");
}

/// (name, nice value) of each thread of process `pid`.
fn threads_and_nice_values(pid: u32) -> Vec<(String, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc");
    tasks
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            // The nice value is field 19; `rest` starts at field 3.
            let nice = rest.split_whitespace().nth(16)?.parse().ok()?;
            Some((name, nice))
        })
        .collect()
}

#[test]
fn password_hashing_threads_run_at_a_lower_priority_than_the_rest() {
    let server = Server::start(json!({"hash_threads": 2}), &[]);
    let pid = server.pid().expect("running");
    // A thread takes its name (and lowers its priority) once it first runs.
    let mut threads = Vec::new();
    let started = common::wait_until(Duration::from_secs(5), || {
        threads = threads_and_nice_values(pid);
        threads
            .iter()
            .filter(|(name, nice)| name.starts_with("hash-") && *nice > 0)
            .count()
            == 2
    });
    assert!(
        started,
        "two hashing threads with a positive nice value: {threads:?}"
    );
    assert!(
        threads
            .iter()
            .filter(|(name, _)| !name.starts_with("hash-"))
            .all(|(_, nice)| *nice == 0),
        "only the hashing threads: {threads:?}"
    );
}

#[test]
fn a_non_websocket_upgrade_request_is_answered_as_plain_http() {
    let server = Server::start(json!({}), &[]);
    let mut conn = server.raw_tls();
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    conn.send(request).expect("send");
    let resp = conn
        .read_response(Duration::from_secs(5))
        .expect("an answer, not a hang");
    assert_eq!(resp.status, 302);
    // The same connection keeps working.
    assert_eq!(conn.roundtrip(GET_LOGIN).status, 200);
}

#[test]
fn behind_an_https_proxy_the_cookie_is_still_secure() {
    let server = Server::start(
        json!({"tls": false, "public_url": "https://lab.example.org"}),
        &[],
    );
    let r = server
        .client()
        .register_form("bob@example.org", "bob", "plain password");
    assert_eq!(r.status, 200);
    assert!(r.set_cookie().expect("Set-Cookie").contains("; Secure"));
}

/// tiny_http's thread pool can leave a new connection queued behind busy
/// threads when connections arrive together; every bridged connection holds
/// a pool thread while it lives, so the queued one waited for another
/// connection to close (the idle timeout).
#[test]
fn many_keep_alive_connections_opened_together_are_all_answered_promptly() {
    let server = Server::start(json!({"idle_timeout_seconds": 60}), &[]);
    for round in 0..3 {
        let mut conns: Vec<_> = (0..12).map(|_| server.raw_tls()).collect();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(conns.len()));
        let threads: Vec<_> = conns
            .drain(..)
            .map(|mut conn| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    conn.send(GET_LOGIN).expect("send");
                    let answered = conn.read_response(Duration::from_secs(5)).map(|r| r.status);
                    (answered.ok(), conn)
                })
            })
            .collect();
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        let answered = results
            .iter()
            .filter(|(status, _)| *status == Some(200))
            .count();
        assert_eq!(
            answered,
            results.len(),
            "round {round}: only {answered} of {} answered within 5 s",
            results.len()
        );
    }
}
