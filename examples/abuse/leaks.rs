//! Attacks that leak authority or secrets rather than capacity (items 8
//! and 10 of the issue): cross-site state changes in `--dev`, and
//! passwords typed into paths reaching the log.

use super::attack::{shown, Attack, Outcome, TIMED_ADDRESS};
use super::net::{json_request, loopback};
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Cross-site spellings of `POST /roles` (no credentials): extra headers
/// and whether the body is a form (else JSON). Browsers send `Origin` on
/// every cross-site POST, so a request with neither `Origin` nor
/// `Sec-Fetch-Site` is a tool's, which `--dev` serves as an admin's.
const CROSS_SITE: [(&str, bool); 7] = [
    (
        "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n",
        false,
    ),
    (
        "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n",
        true,
    ),
    ("Origin: null\r\nSec-Fetch-Site: cross-site\r\n", true),
    ("Sec-Fetch-Site: cross-site\r\n", true),
    (
        "Origin: https://other.localhost\r\nSec-Fetch-Site: same-site\r\n",
        true,
    ),
    ("Origin: https://localhost.evil.example\r\n", true),
    ("Origin: https://evil.example\r\n", false),
];

/// Item 8 (`--dev`): a victim registers; cross-site requests try to make
/// it admin; its role is read back with its own token.
pub fn dev_cross_site(a: &Attack) -> Outcome {
    let mut out = Outcome::default();
    let from = loopback(TIMED_ADDRESS);
    let body =
        json!({"nickname": "victim", "email": "victim@example.org", "password": "victim-password"});
    let (reply, _) = a.once(
        from,
        &json_request("POST", "/register", &body, "Connection: close\r\n"),
        TIMEOUT,
    );
    let token = reply
        .map(|r| {
            r.json()["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    let mut allowed = Vec::new();
    for (i, (headers, form)) in CROSS_SITE.iter().enumerate() {
        let request = if *form {
            let body = "user_name=victim&role=admin";
            format!(
                "POST /roles HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        } else {
            let extra = format!("{headers}Connection: close\r\n");
            json_request(
                "POST",
                "/roles",
                &json!({"user_name": "victim", "role": "admin"}),
                &extra,
            )
        };
        let (reply, _) = a.once(Attack::attacker(i), &request, TIMEOUT);
        let status = reply.map(|r| r.status);
        if !matches!(status, Some(400..=499)) {
            let sent = headers.trim_end().replace("\r\n", "; ");
            let body = if *form { "form" } else { "JSON" };
            allowed.push(format!("`{sent}` {body} ({})", shown(status)));
        }
    }
    let me = format!("GET /me HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n");
    let (reply, _) = a.once(from, me.as_bytes(), TIMEOUT);
    let role = reply
        .map(|r| r.json()["user"]["role"].as_str().unwrap_or("?").to_owned())
        .unwrap_or_else(|| "unknown".into());
    out.note(format!(
        "{} of {} cross-site POST /roles refused; the victim's role afterwards: {role}",
        CROSS_SITE.len() - allowed.len(),
        CROSS_SITE.len()
    ));
    if !allowed.is_empty() {
        out.note(format!("not refused: {}", allowed.join(", ")));
    }
    out.check(
        "every cross-site POST /roles refused in --dev",
        allowed.is_empty(),
    );
    out.check(
        "the victim is not admin",
        role != "admin" && role != "unknown",
    );
    out
}

/// Item 10: request targets carrying a secret after a known route's
/// prefix, or instead of a route; `{}` is replaced by a unique secret.
const SECRET_TARGETS: [&str; 12] = [
    "POST /login&password={}",
    "POST /login;password={}",
    "POST /login%26password={}",
    "GET /login/{}",
    "GET /{}",
    "GET //{}",
    "GET /css/{}",
    "GET /login?password={}",
    "GET /nope?token={}",
    "GET http://localhost/{}",
    "POST /register/{}",
    "DELETE /delete_account/{}",
];

/// Item 10: every target above is sent (with a body where it is a POST);
/// then the server's log is searched for each secret.
pub fn secret_in_path(a: &Attack) -> Outcome {
    let mut leaked = Vec::new();
    let mut secrets = Vec::new();
    for (i, target) in SECRET_TARGETS.iter().enumerate() {
        let secret = format!("Sekrit{i}x{}", a.platform.port);
        let line = target.replace("{}", &secret);
        let request = format!(
            "{line} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        );
        a.once(Attack::attacker(i), request.as_bytes(), TIMEOUT);
        secrets.push((line, secret));
    }
    // Info lines are written within 50 ms; leave ample time.
    std::thread::sleep(Duration::from_secs(1));
    let log = a.platform.log();
    for (line, secret) in &secrets {
        if log.contains(secret.as_str()) {
            leaked.push(format!("`{}`", line.replace(secret.as_str(), "SECRET")));
        }
    }
    let mut out = Outcome::default();
    out.note(format!(
        "{} of {} secrets typed into request targets found in the log",
        leaked.len(),
        secrets.len()
    ));
    if !leaked.is_empty() {
        out.note(format!("logged: {}", leaked.join(", ")));
    }
    out.check("no secret from a path in the log", leaked.is_empty());
    out
}
