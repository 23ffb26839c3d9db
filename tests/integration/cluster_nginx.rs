//! Two platform processes on one database behind contrib/nginx-cluster.conf,
//! restarted one after the other under load, as the README's rolling
//! restart says: no request fails, no acknowledged registration is lost,
//! and the modules end up connected.

use crate::common;
use crate::nginx::{free_port, local_site, Nginx};

use common::hub::{options, T};
use common::{merged, vectors, wait_until, Server, Setup, TestDb};
use serde_json::json;
use sse_platform::module_client::ModuleClient;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONF: &str = include_str!("../../contrib/nginx-cluster.conf");

/// contrib/nginx-cluster.conf with this test's ports, certificate and
/// processes.
fn site(processes: &[u16], port: u16, http_port: u16, cert_dir: &Path) -> String {
    let upstream: String = processes
        .iter()
        .map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;\n"))
        .collect();
    let upstream = (
        "server 127.0.0.1:8888 max_fails=1 fail_timeout=1s;\n    server 127.0.0.1:8889 max_fails=1 fail_timeout=1s;\n",
        upstream,
    );
    let name = "contrib/nginx-cluster.conf";
    local_site(CONF, name, upstream, port, http_port, cert_dir)
}

/// What the load saw: failures (with what failed) and the registrations
/// the platform acknowledged.
#[derive(Default)]
struct Seen {
    failures: Vec<String>,
    registered: Vec<String>,
    requests: usize,
}

/// Pages and registrations through nginx until `stop`.
fn load(nginx_port: u16, cert: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>, n: usize) {
    let client = common::Client::new(&format!("https://127.0.0.1:{nginx_port}"), Some(&cert));
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let name = format!("roll{n}x{i}");
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if i % 2 == 0 {
                let r = client.get("/login");
                (r.status == 200)
                    .then_some(None)
                    .ok_or(format!("GET /login: {}", r.status))
            } else {
                let r =
                    client.register_form(&format!("{name}@example.org"), &name, "Pw-Rolling-4kQz");
                (r.status == 200)
                    .then(|| Some(name.clone()))
                    .ok_or(format!("register {name}: {} {}", r.status, r.body))
            }
        }));
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        s.requests += 1;
        match outcome {
            Ok(Ok(Some(name))) => s.registered.push(name),
            Ok(Ok(None)) => {}
            Ok(Err(why)) => s.failures.push(why),
            Err(_) => s
                .failures
                .push(format!("request {i} of thread {n}: transport error")),
        }
    }
}

#[test]
fn a_rolling_restart_under_load_fails_no_request_and_loses_no_registration() {
    let db = TestDb::new();
    let ports = [free_port(), free_port()];
    let config = |port: u16| {
        merged(
            json!({"verify_keys": vectors()["verify_keys_json"], "tls": false,
                   "trusted_proxies": ["127.0.0.1"], "port": port,
                   "cookie_secret": "one-secret-for-every-process",
                   "register_max_per_address": 100_000}),
            json!({}),
        )
    };
    let mut a = Setup::new(Some(&db), config(ports[0])).start(&["--create_admin"]);
    let mut b = Setup::new(Some(&db), config(ports[1])).start(&[]);
    let cert_dir = a.dir().to_owned();
    let cert = a.cert_pem().to_owned();
    let nginx = Nginx::start_site(|port, http_port| site(&ports, port, http_port, &cert_dir));
    let via_nginx = |module: &str, port: u16| {
        let mut o = options(&a, module, port);
        o.url = format!("wss://127.0.0.1:{}/websocket", nginx.port);
        ModuleClient::connect(o).expect("a module connects through nginx")
    };
    let modules = [via_nginx("ListServ", 8001), via_nginx("SocialServ", 8002)];

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let threads: Vec<_> = (0..3)
        .map(|n| {
            let (stop, seen, cert) = (stop.clone(), seen.clone(), cert.clone());
            let port = nginx.port;
            std::thread::spawn(move || load(port, cert, stop, seen, n))
        })
        .collect();
    // The README's procedure: stop one (SIGTERM drains it), start it again,
    // and once it answers, wait out nginx's fail_timeout (1 s) before the
    // next.
    let restart = |server: &mut Server| {
        let status = server.terminate().expect("exit status");
        assert!(status.success(), "{status:?}");
        server.restart();
        assert_eq!(server.client().get("/readyz").status, 200);
        std::thread::sleep(Duration::from_secs(2));
    };
    std::thread::sleep(Duration::from_secs(1));
    restart(&mut a);
    restart(&mut b);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("load thread");
    }

    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        seen.requests > 20,
        "the load ran: {} requests",
        seen.requests
    );
    let errors: Vec<String> = nginx
        .error_log()
        .lines()
        .filter(|l| l.contains("[error]") || l.contains("[warn]"))
        .take(12)
        .map(str::to_owned)
        .collect();
    assert!(
        seen.failures.is_empty(),
        "{} of {} failed, first: {:?}\nnginx: {errors:#?}",
        seen.failures.len(),
        seen.requests,
        seen.failures
            .iter()
            .take(3)
            .map(|f| f.lines().next().unwrap_or(""))
            .collect::<Vec<_>>()
    );
    let mut c = db.client();
    for name in &seen.registered {
        let n: i64 = c
            .query_one("SELECT count(*) FROM users WHERE name = $1", &[name])
            .expect("count")
            .get(0);
        assert_eq!(n, 1, "{name} was acknowledged");
    }
    assert!(
        wait_until(T, || modules.iter().all(|m| m.is_connected())),
        "both modules reconnected"
    );
    let token = nginx
        .client(&cert)
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let listed = wait_until(T, || {
        let running = nginx
            .client(&cert)
            .token(&token)
            .get("/execution/running")
            .ok_json();
        running["running_modules"]["ListServ"].is_object()
            && running["running_modules"]["SocialServ"].is_object()
    });
    assert!(listed, "both modules are listed again after the restarts");
}
