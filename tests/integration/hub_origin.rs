//! WebSocket upgrades carrying another site's `Origin` are refused before
//! the handshake (a page the user visits must not talk to the hub); module
//! clients send none and connect as before (src/hub/origin.rs).

use crate::common;

use common::hub::{hub, raw, start_module};
use common::Server;
use serde_json::{json, Value};
use std::time::Duration;

/// Sends a WebSocket upgrade with `extra` header lines (each ending in
/// `\r\n`) and returns the status and, for a refusal, the JSON body.
fn upgrade(server: &Server, host: &str, extra: &str) -> (u16, Value) {
    let request = format!(
        "GET /websocket HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    let resp = server.raw().roundtrip(request.as_bytes());
    let body = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
    (resp.status, body)
}

fn here(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

#[test]
fn a_foreign_origin_gets_403_and_no_upgrade_whatever_its_spelling() {
    let server = hub(json!({}));
    let me = here(&server);
    for extra in [
        "Origin: https://evil.example\r\n".to_owned(),
        "Origin: null\r\n".to_owned(),
        format!("Origin: https://{me}/\r\n"),
        format!("Origin: https://user@{me}\r\n"),
        format!("Origin: http://{me}\r\n"),
        format!("Origin: https://127.0.0.1:{}\r\n", server.port + 1),
        format!("Origin: https://{me}\r\nOrigin: https://{me}\r\n"),
        format!("Origin: https://{me}\r\nSec-WebSocket-Origin: https://evil.example\r\n"),
        "Sec-WebSocket-Origin: https://evil.example\r\n".to_owned(),
        "Origin: https://b\u{fc}cher.example\r\n".to_owned(),
        "Origin: https://127.0.0.1%3a1\r\n".to_owned(),
    ] {
        let (status, body) = upgrade(&server, &me, &extra);
        assert_eq!(status, 403, "{extra:?}");
        assert_eq!(body["reason"], "origin_not_allowed", "{extra:?}");
        assert_eq!(body["success"], false);
    }
    let log = server.settled_log();
    assert!(
        log.contains("refused: its Origin is not one of ours"),
        "{log}"
    );
    assert!(!log.contains("evil.example"), "{log}");
    let refused = || -> i64 {
        let sql = "SELECT count(*) FROM audit_events WHERE action = 'websocket_upgrade'
                   AND outcome = 'origin_not_allowed' AND actor = 'anonymous'";
        server.db().client().query_one(sql, &[]).unwrap().get(0)
    };
    assert!(common::wait_until(Duration::from_secs(10), || refused() == 11));
}

#[test]
fn no_origin_and_our_own_origin_both_upgrade() {
    let server = hub(json!({}));
    let me = here(&server);
    assert_eq!(upgrade(&server, &me, "").0, 101);
    assert_eq!(
        upgrade(&server, &me, &format!("Origin: https://{me}\r\n")).0,
        101
    );
    let upper = format!("Origin: HTTPS://127.0.0.1:{}\r\n", server.port);
    assert_eq!(upgrade(&server, &me, &upper).0, 101);
    // The module client (as the Python one) sends no Origin and signs in.
    let mut module = raw(&server, "ListServ");
    assert_eq!(start_module(&mut module, "ListServ", 8001)["success"], true);
}

#[test]
fn listed_origins_upgrade_and_others_stay_refused() {
    let server = hub(json!({
        "websocket_allowed_origins": ["https://app.example", "https://tools.example:8443"]
    }));
    let me = here(&server);
    assert_eq!(
        upgrade(&server, &me, "Origin: https://app.example\r\n").0,
        101
    );
    assert_eq!(
        upgrade(&server, &me, "Origin: https://APP.example:443\r\n").0,
        101
    );
    assert_eq!(
        upgrade(&server, &me, "Origin: https://tools.example:8443\r\n").0,
        101
    );
    assert_eq!(
        upgrade(&server, &me, "Origin: https://tools.example\r\n").0,
        403
    );
    assert_eq!(
        upgrade(&server, &me, "Origin: http://app.example\r\n").0,
        403
    );
}

#[test]
fn a_listed_origin_that_is_not_one_stops_the_start_naming_the_key() {
    let exited = common::Setup::new(None, json!({"websocket_allowed_origins": ["https://x/"]}))
        .try_start(&[])
        .err()
        .expect("the server must refuse the config");
    exited.assert_one_error_naming("websocket_allowed_origins");
}
