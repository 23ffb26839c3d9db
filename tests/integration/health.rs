//! `/healthz`, `/readyz` and `/health`: what they answer, with PostgreSQL
//! up and stopped, and that their access lines stay out of the info log.

use crate::common;

use common::{PgCluster, Server, Setup, TestDb};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn health_endpoints_answer_without_credentials_and_reveal_nothing() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    let healthz = c.get("/healthz");
    assert_eq!(healthz.status, 200, "{}", healthz.body);
    assert_eq!(healthz.json(), json!({"status": "ok"}));
    let health = c.get("/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json(), json!({"status": 200, "success": true}));
    let readyz = c.get("/readyz");
    assert_eq!(readyz.status, 200, "{}", readyz.body);
    assert_eq!(readyz.json(), json!({"status": "ready"}));
    for r in [&healthz, &health, &readyz] {
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("set-cookie").is_none());
    }
}

#[test]
fn health_endpoints_are_not_in_the_info_log() {
    let server = Server::start(json!({}), &[]);
    let c = server.client();
    for path in ["/healthz", "/readyz", "/health"] {
        assert_eq!(c.get(path).status, 200, "{path}");
    }
    let log = server.settled_log();
    for path in ["/healthz", "/readyz", "/health "] {
        assert!(!log.contains(path), "{path} logged:\n{log}");
    }
    assert!(log.contains("GET /login 200"), "the marker line is there");
}

#[test]
fn readyz_answers_503_within_a_second_while_postgresql_is_stopped() {
    let cluster = PgCluster::init();
    let db = TestDb::on(&cluster.conninfo());
    let server = Setup::new(Some(&db), json!({"pg_checkout_timeout_seconds": 5})).start(&[]);
    let c = server.client();
    assert_eq!(c.get("/readyz").status, 200);

    cluster.stop();
    for _ in 0..3 {
        let start = Instant::now();
        let r = c.get("/readyz");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "/readyz took {took:?}");
        assert_eq!(r.status, 503, "{}", r.body);
        let reason = r.json()["reason"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["database_unavailable", "database_timeout"].contains(&reason.as_str()),
            "{}",
            r.body
        );
        assert_eq!(r.json()["success"], json!(false));
        // Alive all the same.
        assert_eq!(c.get("/healthz").status, 200);
        assert_eq!(c.get("/health").status, 200);
    }

    cluster.start();
    let ready = common::wait_until(Duration::from_secs(30), || c.get("/readyz").status == 200);
    assert!(ready, "/readyz never recovered");
}
