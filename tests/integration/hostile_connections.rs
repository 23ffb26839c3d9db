//! Attacks on connection slots, each in a short form with a legitimate
//! client probing from its own address meanwhile: module connections that
//! never sign anything, and idle or half-open connections from a few
//! addresses that would fill the global cap.

use crate::common;

use common::attack::{
    assert_silent_closed_within, connect_from, in_parallel, loopback, silent_module,
    threads_and_fds, Prober,
};
use common::hub::{hub, raw, signer, start_module};
use common::{tls_handshake, Server};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn module_connections_that_sign_nothing_are_closed_and_capped() {
    let server = hub(json!({
        "hub_auth_timeout_seconds": 2,
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
                silent_module(
                    &server,
                    2 + (i % 5) as u8,
                    "/websocket",
                    Duration::from_secs(8),
                )
            })
        }
    });
    // While 40 silent connections compete for 12 places, a module that
    // signs at once still gets in.
    std::thread::sleep(Duration::from_millis(500));
    let mut module = raw(&server, "ListServ");
    let reply = start_module(&mut module, "ListServ", 4001);
    assert_eq!(reply["success"], true, "{reply}");
    let open_for = attack.join().expect("attackers");
    let stats = prober.stop();
    assert_silent_closed_within(&open_for, Duration::from_secs(5), 12);
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    // The authenticated module was never closed to make room.
    let reply = common::hub::signed(
        &mut module,
        &signer("ListServ"),
        json!({"type": "get_running_modules"}),
    );
    assert_eq!(reply["success"], true, "{reply}");
    common::attack::assert_back_to_baseline(pid, before, (3, 6));
}

/// Opens connections from `from` that do nothing: every other one stops
/// after the TCP handshake, the rest after the TLS handshake; each is
/// replaced every `renew` until `until`. Returns how many were opened.
fn hold_idle_connections(
    server: &Server,
    from: u8,
    count: usize,
    renew: Duration,
    until: Instant,
) -> usize {
    let mut opened = 0;
    while Instant::now() < until {
        let mut held = Vec::new();
        for n in 0..count {
            let Ok(tcp) = connect_from(loopback(from), server.port) else {
                continue;
            };
            opened += 1;
            if n % 2 == 0 {
                held.push(Box::new(tcp) as Box<dyn Send>);
            } else if let Ok(tls) = tls_handshake(tcp, server.cert_pem()) {
                held.push(Box::new(tls));
            }
        }
        std::thread::sleep(renew.min(until.saturating_duration_since(Instant::now())));
    }
    opened
}

#[test]
fn idle_and_half_open_connections_from_a_few_addresses_make_room_for_others() {
    let server = hub(json!({
        "max_connections": 60,
        "max_connections_per_ip": 20,
        "header_timeout_seconds": 10,
    }));
    let pid = server.pid().expect("running");
    // A module authenticated before the attack must survive it.
    let mut module = raw(&server, "SocialServ");
    assert_eq!(
        start_module(&mut module, "SocialServ", 4002)["success"],
        true
    );
    let before = threads_and_fds(pid);
    let prober = Prober::start(&server);
    let server = Arc::new(server);
    let until = Instant::now() + Duration::from_secs(6);
    let opened: usize = in_parallel(5, {
        let server = server.clone();
        move |i| hold_idle_connections(&server, 2 + i as u8, 20, Duration::from_secs(2), until)
    })
    .into_iter()
    .sum();
    let stats = prober.stop();
    assert!(opened >= 100, "the attack opened only {opened} connections");
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    let reply = common::hub::signed(
        &mut module,
        &signer("SocialServ"),
        json!({"type": "get_running_modules"}),
    );
    assert_eq!(
        reply["success"], true,
        "the module lost its connection: {reply}"
    );
    common::attack::assert_back_to_baseline(pid, before, (2, 4));
}
