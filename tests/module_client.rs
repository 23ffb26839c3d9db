//! The module client library, keygen and the example module, against the
//! real server: what a module author relies on.

mod common;

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
    let (_db, mut server) = hub(json!({"port": port}));
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
    let (_db, server) = hub(json!({"cookie_secret": secret}));
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
    let (_db, server) = hub(json!({}));
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
