//! contrib/nginx.conf in front of the platform, as the README tells an
//! operator to run it: Debian's nginx terminates TLS and proxies pages, the
//! API and the hub's WebSocket to a platform with `"tls": false` that
//! trusts it as a proxy. nginx runs as a child of the test, as the current
//! user, with the file's own directives (ports, certificate paths and the
//! upstream substituted) inside a server block of a generated config.

use crate::common;

use common::attack::loopback;
use common::hub::{hub, parse, start_module, T};
use common::{Client, RawConn, Server, TempDir};
use serde_json::json;
use sse_platform::module_client::{Connection, Target};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONF: &str = include_str!("../../contrib/nginx.conf");

/// Debian's nginx; the test fails, saying so, where it is missing.
pub(crate) fn nginx_binary() -> PathBuf {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("nginx is not installed (scripts/test installs it: apt-get install nginx)")
    })
}

pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// nginx with contrib/nginx.conf, in front of `upstream`; stopped on drop.
pub(crate) struct Nginx {
    child: Child,
    pub(crate) port: u16,
    dir: TempDir,
}

impl Nginx {
    fn start(upstream: u16, cert_dir: &Path) -> Nginx {
        Nginx::start_site(|port, http_port| site(upstream, port, http_port, cert_dir))
    }

    /// nginx with the `http`-level snippet `site(port, http_port)` makes.
    pub(crate) fn start_site(site: impl FnOnce(u16, u16) -> String) -> Nginx {
        let binary = nginx_binary();
        let dir = TempDir::new("nginx");
        let (port, http_port) = (free_port(), free_port());
        let conf = wrapped(&site(port, http_port), dir.path());
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut nginx = Nginx { child, port, dir };
        nginx.wait_listening();
        nginx
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx is not listening: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub(crate) fn client(&self, cert_pem: &str) -> Client {
        Client::new(&format!("https://127.0.0.1:{}", self.port), Some(cert_pem))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// contrib/nginx.conf with this test's ports, certificate and upstream.
fn site(upstream: u16, port: u16, http_port: u16, cert_dir: &Path) -> String {
    let upstream = (
        "server 127.0.0.1:8888;",
        format!("server 127.0.0.1:{upstream};"),
    );
    local_site(
        CONF,
        "contrib/nginx.conf",
        upstream,
        port,
        http_port,
        cert_dir,
    )
}

/// `conf` (a file of contrib/, named `name`) listening on this test's
/// loopback ports, with its certificate, and `upstream.0` replaced by
/// `upstream.1`. Each replaced text must be there: a change to the file
/// that the tests would no longer follow fails them.
pub(crate) fn local_site(
    conf: &str,
    name: &str,
    upstream: (&str, String),
    port: u16,
    http_port: u16,
    cert_dir: &Path,
) -> String {
    let replacements = [
        upstream,
        ("listen 443 ssl;", format!("listen 127.0.0.1:{port} ssl;")),
        ("listen [::]:443 ssl;", String::new()),
        ("listen 80;", format!("listen 127.0.0.1:{http_port};")),
        ("listen [::]:80;", String::new()),
        (
            "/etc/ssl/certs/platform.example.org.pem",
            cert_dir.join("cert.pem").display().to_string(),
        ),
        (
            "/etc/ssl/private/platform.example.org.key",
            cert_dir.join("key.pem").display().to_string(),
        ),
    ];
    let mut conf = conf.to_owned();
    for (from, to) in replacements {
        assert!(conf.contains(from), "{name} no longer has {from:?}");
        conf = conf.replace(from, &to);
    }
    conf
}

/// The `http`-level snippet inside a main config that keeps everything in
/// `dir` and runs in the foreground as the current user.
fn wrapped(site: &str, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n\
         access_log {d}/access.log;\nclient_body_temp_path {d}/body;\n\
         proxy_temp_path {d}/proxy;\nfastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n{site}\n}}\n"
    )
}

fn behind_nginx() -> (Server, Nginx) {
    let server = hub(json!({"tls": false, "trusted_proxies": ["127.0.0.1"]}));
    assert_eq!(server.scheme, "http");
    let nginx = Nginx::start(server.port, server.dir());
    (server, nginx)
}

#[test]
fn a_login_a_page_and_a_module_broadcast_pass_through_nginx() {
    let (server, nginx) = behind_nginx();
    let cert = server.cert_pem().to_owned();
    let target = Target {
        url: format!("wss://127.0.0.1:{}/websocket", nginx.port),
        ca_pem: Some(cert.as_bytes().to_vec()),
        timeout: T,
    };
    let mut module = Connection::open(&target, None).expect("a module connects through nginx");
    assert_eq!(start_module(&mut module, "ListServ", 8001)["success"], true);

    let client = nginx.client(&cert);
    let token = client.login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let page = client.token(&token).get("/main");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-page=\"admin\""), "{}", page.body);
    let me = client.token(&token).get("/me").ok_json();
    assert_eq!(me["user"]["name"], common::ADMIN_NAME);

    // nginx passes the browser's Host on: a same-origin state change passes
    // the platform's CSRF check.
    let origin = format!("https://127.0.0.1:{}", nginx.port);
    let browser = client.with_jar();
    browser.login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let cookie = browser.jar_cookie().expect("the session cookie");
    let logout = client
        .cookie(&cookie)
        .header("Origin", &origin)
        .post("/logout");
    assert_eq!(logout.status, 200, "{}", logout.body);

    // The login was broadcast to the module over nginx's WebSocket.
    let deadline = Instant::now() + T;
    let heard = loop {
        assert!(Instant::now() < deadline, "the module heard no user_login");
        let Some(frame) = module.recv(T).expect("recv through nginx") else {
            continue;
        };
        let v = parse(&frame);
        if v["type"] == "user_login" {
            break v;
        }
    };
    assert_eq!(heard["access_token"], token.as_str());
}

#[test]
fn the_platform_logs_the_client_address_nginx_saw() {
    let (server, nginx) = behind_nginx();
    let from = loopback(7);
    let tcp = common::attack::connect_from(from, nginx.port).expect("connect from 127.0.0.7");
    let tls = common::tls_handshake(tcp, server.cert_pem()).expect("TLS with nginx");
    let mut conn = RawConn::new(tls);
    let r = conn.roundtrip(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    let log = server.wait_for_log(Duration::from_secs(5), |log| {
        log.lines()
            .any(|l| l.contains("GET /login 200") && l.contains("127.0.0.7"))
    });
    assert!(
        log.lines()
            .any(|l| l.contains("GET /login 200") && l.contains("127.0.0.7")),
        "no access line names 127.0.0.7:\n{log}"
    );
}
