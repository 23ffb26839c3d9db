//! An attack on the held broadcasts: anyone may name a module in the
//! handshake (names are not secret), and a named connection may stay
//! unsigned for `hub_hold_seconds`. Many such connections that never sign,
//! while users log in, must not keep a real module out, must be closed in
//! time, and must leave the platform answering.

use crate::common;

use common::attack::{
    assert_silent_closed_within, in_parallel, silent_module, threads_and_fds, Prober,
};
use common::hub::{hub, raw, signer, start_module};

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

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
                silent_module(
                    &server,
                    2 + (i % 5) as u8,
                    "/websocket?module=ListServ",
                    Duration::from_secs(10),
                )
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
    assert_silent_closed_within(&open_for, Duration::from_secs(6), 12);
    assert!(stats.success_rate() >= 0.9, "legitimate client: {stats:?}");
    let reply = common::hub::signed(
        &mut module,
        &signer("SocialServ"),
        json!({"type": "get_running_modules"}),
    );
    assert_eq!(reply["success"], true, "{reply}");
    common::attack::assert_back_to_baseline(pid, before, (3, 6));
}
