//! The module client library, keygen and the example module, against the
//! real server: what a module author relies on.

use crate::common;

use common::hub::*;
use common::{wait_until, Server};
use serde_json::{json, Value};
use sse_platform::module_client::{ModuleClient, Signer};
use std::time::Duration;

#[test]
fn module_client_requests_events_cache_and_reconnect() {
    // A fixed port, so that the restarted server is where the client was.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut server = hub(json!({"port": port}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let v = checked(
        client
            .request(json!({"type": "get_running_modules"}), T)
            .expect("request"),
    );
    assert_eq!(v["running_modules"]["ListServ"]["port"], 8001);
    let token = server.client().register("frank", "frank-password");
    let event = checked(client.events().recv_timeout(T).expect("user_login event"));
    assert_eq!(event["type"], "user_login");
    assert_eq!(
        client.cache().get(&token).map(|u| u.username),
        Some("frank".into())
    );
    assert_eq!(
        client
            .validate_token(&token)
            .expect("validate")
            .map(|u| u.user_id),
        event["id"].as_i64()
    );
    server.restart();
    assert!(wait_until(Duration::from_secs(20), || client
        .is_connected()
        && client
            .request(json!({"type": "get_running_modules"}), T)
            .is_ok_and(|v| checked(v)["running_modules"]["ListServ"]
                ["port"]
                == 8001)));
    // The session survived the restart too.
    assert!(
        checked(
            client
                .request(
                    json!({"type": "token_validation", "access_token": token}),
                    T
                )
                .expect("validate")
        )["success"]
            == true
    );
}

#[test]
fn keygen_writes_original_formats_and_refuses_to_overwrite() {
    let dir = common::TempDir::new("keygen");
    let out = std::process::Command::new(common::BIN)
        .args(["keygen", "--name", "newmod", "--out"])
        .arg(dir.path())
        .output()
        .expect("run keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let seed = std::fs::read_to_string(dir.path().join("signing_key.key")).expect("signing key");
    let public = std::fs::read_to_string(dir.path().join("verify_key.key")).expect("verify key");
    assert!(
        printed.contains(&format!("\"newmod\": \"{public}\"")),
        "{printed}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("signing_key.key"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let line = format!("{{{}}}", printed.lines().last().unwrap_or_default().trim());
    let keys: Value = serde_json::from_str(&line).expect("the printed line is JSON");
    assert_eq!(keys["newmod"], public.as_str());
    assert!(Signer::new("newmod", &seed).is_ok());
    let again = std::process::Command::new(common::BIN)
        .args(["keygen", "--name", "newmod", "--out"])
        .arg(dir.path())
        .output()
        .expect("run keygen");
    assert!(!again.status.success(), "must refuse to overwrite");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("signing_key.key")).expect("kept"),
        seed
    );
}

/// Builds (if needed) and starts examples/hello_module.rs; returns the
/// child and its HTTP port.
fn start_hello_module(
    server: &Server,
    key_path: &std::path::Path,
    secret: &str,
) -> (std::process::Child, u16) {
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "hello_module"])
        .status()
        .expect("cargo build --example");
    assert!(built.success());
    let exe = std::path::Path::new(common::BIN)
        .parent()
        .expect("target dir")
        .join("examples/hello_module");
    let cert = server.dir().join("cert.pem");
    let mut child = std::process::Command::new(exe)
        .args([
            "--platform",
            &target(server).url,
            "--name",
            "ListServ",
            "--cookie-secret",
            secret,
        ])
        .arg("--key")
        .arg(key_path)
        .arg("--ca")
        .arg(cert)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start hello_module");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    (
        child,
        port.unwrap_or_else(|| panic!("unexpected first line: {line}")),
    )
}

#[test]
fn hello_module_greets_the_logged_in_user_end_to_end() {
    let secret = "hello-module-shared-secret-0123";
    let server = hub(json!({"cookie_secret": secret}));
    let key_path = server.dir().join("signing_key.key");
    std::fs::write(&key_path, seed("ListServ")).expect("write key");
    let (mut child, port) = start_hello_module(&server, &key_path, secret);
    let admin = server
        .client()
        .login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    assert_eq!(running(&server, &admin)["ListServ"]["port"], port);
    let browser = server.client().with_jar();
    browser.register("grace", "grace-password");
    let cookie = browser.jar_cookie().expect("the platform set its cookie");
    let module = common::Client::new(&format!("http://127.0.0.1:{port}"), None);
    let page = module.cookie(&cookie).get("/");
    assert_eq!((page.status, page.body.as_str()), (200, "Hello, grace!"));
    assert_eq!(module.get("/").status, 401, "no cookie, no greeting");
    let mut forged = cookie.clone();
    let last = forged.pop().expect("non-empty");
    forged.push(if last == '0' { '1' } else { '0' });
    assert_eq!(
        module.cookie(&forged).get("/").status,
        401,
        "a tampered cookie is refused"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_password_change_tells_modules_to_drop_all_of_the_users_tokens() {
    let server = hub(json!({}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let web = server.client();
    let first = web.register("heidi", "heidi-password");
    let second = web.login("heidi", "heidi-password");
    assert!(wait_until(T, || client.cache().get(&first).is_some()
        && client.cache().get(&second).is_some()));
    let r = web.token(&first).post_form(
        "/password/change",
        &[
            ("old_password", "heidi-password"),
            ("new_password", "heidi-password-2"),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(
        wait_until(T, || client.cache().get(&second).is_none()),
        "the other session's token is dropped too"
    );
    assert!(client
        .validate_token(&second)
        .expect("ask the platform")
        .is_none());
}

/// The platform's port stays the same over a restart, so that the client
/// finds it again.
fn fixed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn the_client_drops_its_whole_cache_when_it_reconnects() {
    let mut server = hub(json!({"port": fixed_port()}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let token = server.client().register("ivan", "ivan-password");
    assert!(wait_until(T, || client.cache().get(&token).is_some()));
    server.restart();
    assert!(wait_until(Duration::from_secs(20), || client
        .is_connected()
        && client
            .request(json!({"type": "get_running_modules"}), T)
            .is_ok()));
    assert!(
        client.cache().is_empty(),
        "whatever happened while it was away is unknown, so nothing is trusted"
    );
    // The session itself survived; the platform vouches for it again.
    let user = client.validate_token(&token).expect("ask the platform");
    assert_eq!(user.map(|u| u.username), Some("ivan".into()));
    assert!(
        client.cache().get(&token).is_some(),
        "and it is cached again"
    );
}

#[test]
fn a_token_whose_session_ended_unannounced_is_refused_after_revalidate_after() {
    let server = hub(json!({"token_ttl_seconds": 2, "session_max_seconds": 600}));
    let mut o = options(&server, "ListServ", 8001);
    o.revalidate_after = Duration::from_secs(3);
    let client = ModuleClient::connect(o).expect("connect");
    let token = server.client().register("judy", "judy-password");
    assert!(wait_until(T, || client.cache().get(&token).is_some()));
    let t0 = std::time::Instant::now();
    // Served from memory, which does not renew the session on the platform:
    // nobody uses it there, so it ends by idle expiry within 2 s, and
    // nothing tells the module (the janitor sweeps once a minute).
    std::thread::sleep(Duration::from_millis(1000));
    assert!(client.validate_token(&token).expect("cache").is_some());
    std::thread::sleep(
        (t0 + Duration::from_millis(3500)).saturating_duration_since(std::time::Instant::now()),
    );
    assert_eq!(
        client.validate_token(&token).expect("asks the platform"),
        None,
        "unconfirmed for 3 s, the entry is checked again and refused"
    );
}

#[test]
fn a_user_logout_the_module_sends_itself_drops_the_token_from_its_cache() {
    let server = hub(json!({}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let token = server.client().register("kate", "kate-password");
    assert!(wait_until(T, || client.cache().get(&token).is_some()));
    let v = client
        .request(json!({"type": "user_logout", "access_token": token}), T)
        .expect("user_logout");
    assert_eq!(v["success"], true);
    // The platform tells every other module; this one ended it itself.
    assert!(client.cache().get(&token).is_none());
    assert_eq!(client.validate_token(&token).expect("ask"), None);
}

/// The first event matching `pred` within a few seconds.
fn event_where(client: &ModuleClient, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = std::time::Instant::now() + T;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match client.events().recv_timeout(left) {
            Ok(event) if pred(&event) => return Some(event),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Needs the platform's protocol 2 (`session_expires` in `user_login` and
/// `token_validation`), which another branch of issue 9 brings: fails
/// before that merge.
#[test]
fn the_client_never_serves_a_token_past_its_session_expires() {
    let server = hub(json!({"token_ttl_seconds": 2, "session_max_seconds": 3}));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let token = server.client().register("leo", "leo-password");
    let event = event_where(&client, |e| {
        e["type"] == "user_login" && e["access_token"] == token.as_str()
    });
    let end = event.as_ref().and_then(|e| e["session_expires"].as_i64());
    assert!(
        end.is_some(),
        "user_login carries session_expires: {event:?}"
    );
    // Each hit renews the cache's idle expiry, never past the end, and
    // does not ask the platform (which would refuse once the end passed).
    let gone = wait_until(Duration::from_secs(6), || {
        client.cache().get(&token).is_none()
    });
    assert!(gone, "dropped at session_expires");
    assert!(common::unix_now() >= end.unwrap_or(i64::MAX) - 1);
    // A token the client first meets through token_validation gets the
    // end of that reply.
    let fresh = server.client().login("leo", "leo-password");
    assert!(wait_until(T, || client.cache().get(&fresh).is_some()));
    client.cache().remove(&fresh);
    assert!(client.validate_token(&fresh).expect("ask").is_some());
    assert!(
        client.cache().get(&fresh).is_some(),
        "cached from the reply"
    );
    let gone = wait_until(Duration::from_secs(6), || {
        client.cache().get(&fresh).is_none()
    });
    assert!(
        gone,
        "dropped at the session_expires of the token_validation reply"
    );
}

/// Needs the platform's `session_ended` for sessions the janitor ends
/// (another branch of issue 9): fails before that merge.
#[test]
fn session_ended_from_the_janitor_drops_the_token_from_the_cache() {
    let server = hub(json!({
        "token_ttl_seconds": 2, "session_max_seconds": 600, "session_sweep_seconds": 1,
    }));
    let client = ModuleClient::connect(options(&server, "ListServ", 8001)).expect("connect");
    let token = server.client().register("mia", "mia-password");
    assert!(wait_until(T, || client.cache().get(&token).is_some()));
    // The cache alone would keep it for an hour (revalidation after a
    // minute); the platform's word ends it.
    let dropped = wait_until(Duration::from_secs(10), || client.cache().is_empty());
    assert!(dropped, "session_ended dropped the token");
}
