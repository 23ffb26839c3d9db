//! The command line and configuration errors: each a single line naming
//! what is wrong, exit status 2, never a panic.

use crate::common;

use common::{run_to_exit, Exited, Setup, TempDir};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `sse-platform -c config.json` on a config that never reaches the
/// database, merged with `extra`.
fn run_with_config(extra: serde_json::Value) -> Exited {
    let setup = Setup::new(None, extra);
    let config = setup.config_path();
    run_to_exit(setup.dir(), &["-c", config.to_str().unwrap()], TIMEOUT)
}

/// Exit status 2 and exactly one stderr line, which contains every word of
/// `needles`; returns that line.
#[track_caller]
fn assert_config_error(exited: &Exited, needles: &[&str]) -> String {
    assert_eq!(exited.status.code(), Some(2), "{}", exited.stderr);
    exited.assert_no_panic();
    let lines = exited.stderr_lines();
    assert_eq!(lines.len(), 1, "one line:\n{}", exited.stderr);
    assert!(lines[0].starts_with("sse-platform: "), "{}", lines[0]);
    for needle in needles {
        assert!(lines[0].contains(needle), "'{needle}' not in: {}", lines[0]);
    }
    assert!(exited.stdout.is_empty(), "stdout: {}", exited.stdout);
    lines[0].to_owned()
}

#[test]
fn help_prints_usage_and_exits_0() {
    let dir = TempDir::new("cli");
    for flag in ["--help", "-h"] {
        let exited = run_to_exit(dir.path(), &[flag], TIMEOUT);
        assert!(exited.status.success(), "{}", exited.stderr);
        assert!(exited.stdout.contains("Usage:"), "{}", exited.stdout);
        assert!(exited.stdout.contains("-c"));
        assert!(exited.stdout.contains("--create_admin"));
        assert!(exited.stdout.contains("--dev"));
    }
}

#[test]
fn version_prints_the_crate_version() {
    let dir = TempDir::new("cli");
    let exited = run_to_exit(dir.path(), &["--version"], TIMEOUT);
    assert!(exited.status.success());
    assert_eq!(
        exited.stdout.trim(),
        format!("sse-platform {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn missing_config_option_exits_2() {
    let dir = TempDir::new("cli");
    for args in [&[][..], &["--dev"], &["--create_admin"]] {
        let exited = run_to_exit(dir.path(), args, TIMEOUT);
        assert_config_error(&exited, &["-c"]);
    }
    let exited = run_to_exit(dir.path(), &["-c", "config.json", "surprise"], TIMEOUT);
    assert_config_error(&exited, &["surprise"]);
    let exited = run_to_exit(dir.path(), &["--frobnicate", "-c", "x.json"], TIMEOUT);
    assert_eq!(exited.status.code(), Some(2), "{}", exited.stderr);
}

#[test]
fn unreadable_config_exits_2_naming_the_file() {
    let dir = TempDir::new("cli");
    let missing = dir.path().join("no-such-config.json");
    let exited = run_to_exit(dir.path(), &["-c", missing.to_str().unwrap()], TIMEOUT);
    assert_config_error(&exited, &["no-such-config.json"]);
    // A directory is not a file either.
    let exited = run_to_exit(dir.path(), &["-c", dir.path().to_str().unwrap()], TIMEOUT);
    assert_config_error(&exited, &[dir.path().to_str().unwrap()]);
}

#[test]
fn invalid_json_exits_2_naming_the_file() {
    let setup = Setup::new(None, json!({}));
    setup.write_config("{\"pguser\": \"sse\",, }");
    let config = setup.config_path();
    let exited = run_to_exit(setup.dir(), &["-c", config.to_str().unwrap()], TIMEOUT);
    assert_config_error(&exited, &["config.json"]);
    setup.write_config("[1, 2, 3]");
    let exited = run_to_exit(setup.dir(), &["-c", config.to_str().unwrap()], TIMEOUT);
    assert_config_error(&exited, &["config.json", "object"]);
}

#[test]
fn missing_required_key_exits_2_naming_it() {
    for key in ["pgdb", "pguser", "cookie_secret"] {
        let exited = run_with_config(json!({ key: null }));
        assert_config_error(&exited, &["config.json", &format!("'{key}'"), "missing"]);
    }
}

#[test]
fn wrong_type_or_value_exits_2_naming_the_key() {
    for (key, value) in [
        ("pgport", json!(true)),
        ("port", json!("eighty")),
        ("port", json!(70000)),
        ("tls", json!("yes")),
        ("pgdb", json!(42)),
        ("bind", json!("not an address")),
        ("bcrypt_cost", json!(3)),
        ("header_timeout_seconds", json!(-1)),
        ("cookie_secret", json!("short")),
        ("trusted_proxies", json!("127.0.0.1")),
        ("trusted_proxies", json!(["127.0.0.1", "proxy.example.org"])),
        ("log_format", json!("xml")),
        ("log_format", json!(1)),
    ] {
        let exited = run_with_config(json!({ key: value }));
        assert_config_error(&exited, &[&format!("'{key}'")]);
    }
}

#[test]
fn tls_without_a_certificate_is_a_clear_error() {
    let exited = run_with_config(json!({"ssl_cert": null}));
    let line = assert_config_error(&exited, &["'ssl_cert'"]);
    assert!(line.contains("tls"), "mentions the way out: {line}");
    let exited = run_with_config(json!({"ssl_key": null}));
    assert_config_error(&exited, &["'ssl_key'"]);

    // Files that are not there: named, one line, non-zero.
    let exited = run_with_config(json!({"ssl_cert": "missing-cert.pem"}));
    assert!(!exited.status.success());
    exited.assert_no_panic();
    let lines = exited.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", exited.stderr);
    assert!(lines[0].contains("missing-cert.pem"), "{}", lines[0]);
    // A key that does not match the certificate.
    let setup = Setup::new(None, json!({}));
    let (_, other_key) = common::self_signed_cert();
    std::fs::write(setup.dir().join("key.pem"), other_key).unwrap();
    let config = setup.config_path();
    let exited = run_to_exit(setup.dir(), &["-c", config.to_str().unwrap()], TIMEOUT);
    assert!(!exited.status.success());
    exited.assert_no_panic();
    assert_eq!(exited.stderr_lines().len(), 1, "{}", exited.stderr);
    assert!(exited.stderr.contains("ssl_"), "{}", exited.stderr);
}
