//! An attack on the held broadcasts: anyone may name a module in the
//! handshake (names are not secret), and a named connection may stay
//! unsigned for `hub_hold_seconds`. Many such connections that never sign,
//! while users log in, must not keep a real module out, must be closed in
//! time, and must leave the platform answering.

use crate::common;

use common::attack::{connect_from, in_parallel, loopback, threads_and_fds, Prober};
use common::hub::{hub, raw, signer, start_module};
use common::{tls_handshake, Server};
use serde_json::json;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;

/// A WebSocket client from `from` that names `ListServ`, answers pings and
/// signs nothing; returns how long the server kept it open (`None`:
/// refused at once, or still open after `give_up`).
fn silent_named_module(server: &Server, from: u8, give_up: Duration) -> Option<Duration> {
    let tcp = connect_from(loopback(from), server.port).ok()?;
    let tls = tls_handshake(tcp, server.cert_pem()).ok()?;
    let request = "wss://localhost/websocket?module=ListServ"
        .into_client_request()
        .ok()?;
    let (mut ws, _) = tungstenite::client::client(request, tls).ok()?;
    let opened = Instant::now();
    ws.get_ref()
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    while opened.elapsed() < give_up {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => panic!("heard {t} without signing"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(opened.elapsed()),
        }
    }
    None
}

#[test]
fn named_connections_that_never_sign_hold_little_and_are_closed() {
    let server = hub(json!({
        "hub_auth_timeout_seconds": 1,
        "hub_hold_seconds": 3,
        "hub_hold_messages": 16,
        "hub_max_unauthenticated": 12,
        "hub_ping_interval_seconds": 1,
    }));
    let pid = server.pid().expect("running");
    assert_eq!(server.client().get("/login").status, 200);
    let before = threads_and_fds(pid);
    let prober = Prober::start(&server);
    let server = Arc::new(server);
    let attack = std::thread::spawn({
        let server = server.clone();
        move || {
            in_parallel(40, move |i| {
                silent_named_module(&server, 2 + (i % 5) as u8, Duration::from_secs(10))
            })
        }
    });
    // Broadcasts to hold meanwhile, more than each hold keeps.
    let web = server.client();
    for i in 0..24 {
        web.register(&format!("user{i}"), "user-password-1");
    }
    let mut module = raw(&server, "SocialServ");
    let reply = start_module(&mut module, "SocialServ", 4002);
    assert_eq!(reply["success"], true, "{reply}");
    let open_for = attack.join().expect("attackers");
    let stats = prober.stop();
    for open in &open_for {
        let open = open.expect("a silent named connection stayed open for 10 s");
        assert!(open < Duration::from_secs(6), "closed after {open:?}");
    }
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    let reply = common::hub::signed(
        &mut module,
        &signer("SocialServ"),
        json!({"type": "get_running_modules"}),
    );
    assert_eq!(reply["success"], true, "{reply}");
    common::attack::assert_back_to_baseline(pid, before, (3, 6));
}
