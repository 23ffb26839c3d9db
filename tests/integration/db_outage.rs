//! PostgreSQL going away and coming back, on private clusters this test
//! stops and starts (`$SSE_TEST_PG_CLUSTER`).

use crate::common;

use common::{PgCluster, Setup, TestDb};
use serde_json::json;
use std::time::{Duration, Instant};

const PASSWORD: &str = "outage password";

#[test]
fn outage_answers_503_keeps_cached_sessions_and_recovers_without_restart() {
    let cluster = PgCluster::init();
    let db = TestDb::on(&cluster.conninfo());
    let server = Setup::new(Some(&db), json!({"pg_checkout_timeout_seconds": 1})).start(&[]);
    let c = server.client();
    let token = c.register("bob", PASSWORD);

    cluster.stop();
    let start = Instant::now();
    let r = c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "503 took {:?}",
        start.elapsed()
    );
    r.assert_error(503, "database_unavailable");
    assert!(r.header("retry-after").is_some());
    // A session already in memory needs no database; neither do assets.
    let running = c.token(&token).get("/execution/running");
    assert_eq!(running.status, 200, "{}", running.body);
    assert_eq!(c.get("/css/style.css").status, 200);
    assert_eq!(c.get("/login").status, 200);

    cluster.start();
    let mut last = None;
    let recovered = common::wait_until(Duration::from_secs(30), || {
        let r = c.post_form("/login", &[("nickname", "bob"), ("password", PASSWORD)]);
        let ok = r.status == 200;
        last = Some(r);
        ok
    });
    assert!(recovered, "login never recovered: {last:?}");
    server.wait_for_log(Duration::from_secs(5), |log| {
        log.contains("database unavailable")
    });
}

#[test]
fn start_waits_for_a_database_that_comes_up_later() {
    let cluster = PgCluster::init();
    let db = TestDb::on(&cluster.conninfo());
    cluster.stop();
    let setup = Setup::new(Some(&db), json!({"pg_checkout_timeout_seconds": 1}))
        .startup_timeout(Duration::from_secs(40));
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(3));
        cluster.start();
        cluster
    });
    let server = setup.start(&[]);
    let cluster = starter.join().expect("cluster start");
    assert!(
        server.log().contains("not reachable yet"),
        "{}",
        server.log()
    );
    server.client().register("bob", PASSWORD);
    drop(server);
    drop(db);
    drop(cluster);
}

#[test]
fn start_gives_up_with_a_clear_message_when_the_database_never_comes() {
    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = json!({
        "pghost": "127.0.0.1",
        "pgport": port,
        "pguser": "sse",
        "pgdb": "sse",
        "pg_checkout_timeout_seconds": 1,
    });
    let setup = Setup::new(None, extra).startup_timeout(Duration::from_secs(60));
    let start = Instant::now();
    let exited = match setup.try_start(&[]) {
        Ok(_) => panic!("started without a database"),
        Err(exited) => exited,
    };
    assert!(start.elapsed() >= Duration::from_secs(20), "gave up early");
    assert!(!exited.status.success());
    exited.assert_no_panic();
    let last = exited.stderr_lines().last().copied().unwrap_or("");
    assert!(
        last.starts_with("sse-platform: database unavailable"),
        "{}",
        exited.stderr
    );
}
