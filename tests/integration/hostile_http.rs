//! Attacks on the HTTP bridge, each in a short form with a legitimate
//! client probing from its own address meanwhile: pipelined requests to the
//! hashing lane, slow bodies, header spellings that tiny_http would take
//! for an upgrade, and header bytes tiny_http cannot read.

use crate::common;

use common::attack::{in_parallel, loopback, threads_and_fds, Prober};
use common::{Resp, Server, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A wrong-password login with a JSON body.
fn bad_login(close: bool) -> Vec<u8> {
    let body = json!({"nickname": ADMIN_NAME, "password": "wrong-password"}).to_string();
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{connection}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const GET_LOGIN: &[u8] = b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// The server still serves a page and a login, and its threads and file
/// descriptors come back to where they were.
#[track_caller]
fn assert_recovers(server: &Server, baseline: (usize, usize)) {
    assert_eq!(server.client().get("/login").status, 200);
    let pid = server.pid().expect("running");
    common::attack::assert_back_to_baseline(pid, baseline, (2, 4));
}

fn baseline(server: &Server) -> (usize, usize) {
    // One request first, so that lazily started threads count as baseline.
    assert_eq!(server.client().get("/login").status, 200);
    threads_and_fds(server.pid().expect("running"))
}

/// Sends `requests` pipelined requests on each of `connections`
/// connections from four addresses: wrong-password logins, or page requests
/// where `is_page` says so, the last one with `Connection: close`. Checks
/// that every one is answered, in order, while a legitimate client is
/// served, and that the server recovers.
fn pipelined_attack(
    extra: serde_json::Value,
    connections: usize,
    requests: usize,
    is_page: fn(usize) -> bool,
) {
    let server = Server::start(extra, &["--create_admin"]);
    let before = baseline(&server);
    let prober = Prober::start(&server);
    let server = Arc::new(server);
    let answered = in_parallel(connections, {
        let server = server.clone();
        move |i| {
            let mut conn = server
                .raw_from(loopback(2 + (i % 4) as u8))
                .expect("connect");
            let mut batch = Vec::new();
            for n in 0..requests {
                if is_page(n) {
                    batch.extend_from_slice(GET_LOGIN);
                } else {
                    batch.extend(bad_login(n == requests - 1));
                }
            }
            conn.send(&batch).expect("send the pipeline");
            let mut statuses = Vec::new();
            while let Ok(r) = conn.read_response(Duration::from_secs(30)) {
                statuses.push(r.status);
            }
            statuses
        }
    });
    let stats = prober.stop();
    for statuses in &answered {
        assert_eq!(statuses.len(), requests, "answers: {statuses:?}");
        for (n, status) in statuses.iter().enumerate() {
            assert_eq!(
                *status == 200,
                is_page(n),
                "answer {n} out of order: {statuses:?}"
            );
        }
    }
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    assert_recovers(&server, before);
}

#[test]
fn pipelined_logins_never_stop_http_and_are_all_answered() {
    // The default pools of a 2-core machine.
    let extra = json!({"worker_threads": 8, "hash_threads": 1});
    pipelined_attack(extra, 24, 50, |_| false);
}

#[test]
fn pipelined_logins_and_pages_are_answered_in_order() {
    pipelined_attack(json!({}), 8, 50, |n| n % 7 == 3 || n % 11 == 0);
}

#[test]
fn a_client_that_stops_sending_after_its_pipeline_still_gets_every_answer() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let mut conn = server.raw_from(loopback(3)).expect("connect");
    let mut batch = Vec::new();
    for _ in 0..10 {
        batch.extend(bad_login(false));
        batch.extend_from_slice(GET_LOGIN);
    }
    conn.send(&batch).expect("send");
    // Half-close: the client sends nothing more but reads on.
    conn.stream
        .tcp()
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let mut statuses = Vec::new();
    while let Ok(r) = conn.read_response(Duration::from_secs(10)) {
        statuses.push(r.status);
    }
    assert_eq!(statuses.len(), 20, "{statuses:?}");
}

#[test]
fn slow_bodies_get_408_at_the_body_deadline_and_hold_no_worker() {
    let server = Server::start(
        json!({"body_timeout_seconds": 3, "worker_threads": 2}),
        &["--create_admin"],
    );
    let before = baseline(&server);
    let prober = Prober::start(&server);
    let server = Arc::new(server);
    let started = Instant::now();
    let slow = in_parallel(12, {
        let server = server.clone();
        move |i| {
            let mut conn = server
                .raw_from(loopback(2 + (i % 3) as u8))
                .expect("connect");
            let (path, length) = if i % 4 == 0 {
                ("/login", 5_000)
            } else {
                ("/nope", 100_000)
            };
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\nnickname=admin&password="
            );
            conn.send(head.as_bytes()).expect("send the head");
            // One byte every 500 ms until the server answers or 8 s pass.
            let until = Instant::now() + Duration::from_secs(8);
            while Instant::now() < until && conn.send(b"x").is_ok() {
                if let Ok(r) = conn.read_response(Duration::from_millis(500)) {
                    return Some((r.status, r.json()["reason"].as_str().map(str::to_owned)));
                }
            }
            None
        }
    });
    // Meanwhile, logins from another address go through.
    let login = server.client().post_form(
        "/login",
        &[("nickname", ADMIN_NAME), ("password", ADMIN_PASSWORD)],
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let stats = prober.stop();
    for answer in &slow {
        assert_eq!(
            answer,
            &Some((408, Some("request_timeout".to_owned()))),
            "slow bodies: {slow:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the 408s came late"
    );
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    assert_recovers(&server, before);
}

#[test]
fn a_body_sent_at_once_after_100_continue_is_served() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let mut conn = server.raw_from(loopback(4)).expect("connect");
    let body = format!("nickname={ADMIN_NAME}&password={ADMIN_PASSWORD}");
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.send(head.as_bytes()).expect("head");
    let interim = conn
        .read_head_response(Duration::from_secs(5))
        .expect("100");
    assert_eq!(interim, 100);
    conn.send(body.as_bytes()).expect("body");
    let r = conn.read_response(Duration::from_secs(5)).expect("answer");
    assert_eq!(r.status, 200, "{}", r.body);
}

/// `Connection` values that tiny_http would take for an upgrade if it saw
/// them: each request is answered, and so is the one pipelined after it.
#[test]
fn connection_values_that_mention_upgrade_are_answered_like_any_other() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let before = baseline(&server);
    let prober = Prober::start(&server);
    let spellings = [
        "keep-alive, x-upgrade",
        "?Upgrade",
        "Upgrade",
        "keep-alive, Upgrade",
        "upgrade-insecure-requests",
        "UPGRADE, close-ish",
        "keep-alive,upgrade",
        "te, upgrade",
    ];
    let server = Arc::new(server);
    let answers = in_parallel(spellings.len() * 2, {
        let server = server.clone();
        move |i| {
            let connection = spellings[i % spellings.len()];
            let mut conn = server
                .raw_from(loopback(5 + (i % 3) as u8))
                .expect("connect");
            let first = format!(
                "GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: {connection}\r\nUpgrade: websocket\r\n\r\n"
            );
            let mut batch = first.into_bytes();
            batch.extend(bad_login(false));
            conn.send(&batch).expect("send");
            let a = conn.read_response(Duration::from_secs(5)).map(|r| r.status);
            let b = conn.read_response(Duration::from_secs(5)).map(|r| r.status);
            (connection, a.ok(), b.ok())
        }
    });
    let stats = prober.stop();
    for (connection, a, b) in answers {
        assert_eq!(a, Some(200), "Connection: {connection}");
        assert!(
            b.is_some_and(|s| s >= 400),
            "request after Connection: {connection}: {b:?}"
        );
    }
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    assert_recovers(&server, before);
}

fn answer(server: &Server, request: &[u8]) -> Option<Resp> {
    let mut conn = server.raw_from(loopback(6)).expect("connect");
    conn.send(request).expect("send");
    conn.read_response(Duration::from_secs(5)).ok()
}

#[test]
fn every_complete_head_gets_an_answer_whatever_its_bytes() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let served = [
        &b"GET /login HTTP/1.1\r\nHost: localhost\r\nUser-Agent: caf\xc3\xa9\r\n\r\n"[..],
        b"GET /login HTTP/1.1\r\nHost: localhost\r\nX-Name: \xff\xfe\r\n\r\n",
        b"GET /login HTTP/1.1\r\nHost: l\xc3\xb6calhost\r\n\r\n",
        b"GET /login HTTP/1.1\r\nCookie: access_token=\x80\x81\r\n\r\n",
        b"GET /login HTTP/1.0\r\n\r\n",
        b"GET /login HTTP/1.1\r\nTE: chunked\r\n\r\n",
        b"GET /login HTTP/1.1\r\nExpect: something-else\r\n\r\n",
        b"GET /login?caf\xc3\xa9=1 HTTP/1.1\r\n\r\n",
    ];
    for request in served {
        let r = answer(&server, request);
        let shown = String::from_utf8_lossy(request);
        assert_eq!(r.map(|r| r.status), Some(200), "{shown}");
    }
    let refused = [
        (&b"GET /\xff HTTP/1.1\r\n\r\n"[..], 400),
        (
            b"GET /login HTTP/1.1\r\nX-Anything: \x7f\x01ok\r\n\r\n",
            400,
        ),
        (b"GET /login HTTP/1.1\r\nX-Nul: a\x00b\r\n\r\n", 400),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 404),
        (
            b"POST /login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            411,
        ),
        (
            b"POST /login HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (b"BREW /login HTTP/1.1\r\n\r\n", 405),
    ];
    for (request, status) in refused {
        let r = answer(&server, request);
        let shown = String::from_utf8_lossy(request);
        let r = r.unwrap_or_else(|| panic!("no answer to {shown}"));
        assert_eq!(r.status, status, "{shown}: {}", r.body);
        assert!(r.json()["reason"].is_string(), "{shown}: {}", r.body);
    }
}

#[test]
fn clients_that_never_read_their_answers_hold_nothing_for_long() {
    let server = Server::start(json!({"idle_timeout_seconds": 3}), &["--create_admin"]);
    let before = baseline(&server);
    let prober = Prober::start(&server);
    // Each asks for a thousand pages at once and reads none of them.
    let stuck: Vec<_> = (0..20)
        .map(|i| {
            let mut conn = server
                .raw_from(loopback(2 + (i % 4) as u8))
                .expect("connect");
            conn.stream
                .tcp()
                .set_write_timeout(Some(Duration::from_secs(2)))
                .ok();
            let _ = conn.send(&GET_LOGIN.repeat(1000));
            conn
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let login = server.client().post_form(
        "/login",
        &[("nickname", ADMIN_NAME), ("password", ADMIN_PASSWORD)],
    );
    assert_eq!(login.status, 200, "{}", login.body);
    // Without reading a byte, the clients see the server let go: its
    // threads and descriptors come back while they still hold their ends.
    let stats = prober.stop();
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    assert_recovers(&server, before);
    drop(stuck);
}
