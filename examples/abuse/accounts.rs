//! Attacks on accounts (items 7, 9 and 12 of the issue): a registration
//! flood at bcrypt cost 12, look-alike nicknames, and locking a user out
//! with wrong guesses.

use super::attack::{ms, shown, sleep_until, Attack, Outcome, Tally, TIMED_ADDRESS};
use super::net::{json_request, loopback};
use super::platform::{ADMIN_EMAIL, ADMIN_NAME};
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn post(
    a: &Attack,
    from: Ipv4Addr,
    path: &str,
    body: Value,
    timeout: Duration,
) -> (Option<u16>, Duration) {
    let request = json_request("POST", path, &body, "Connection: close\r\n");
    let (reply, took) = a.once(from, &request, timeout);
    (reply.map(|r| r.status), took)
}

/// Item 7: 40 clients on one address register new accounts as fast as
/// they are answered; 4 logins from another address are timed meanwhile.
pub fn registration_flood(a: &Attack) -> Outcome {
    let clients = a.scale(40, 8);
    let counts = Tally::new(5); // 200, 429, 503, other, no answer within 30 s
    let logins = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    let login_every = Duration::from_secs(a.scale(5, 1) as u64);
    std::thread::scope(|s| {
        for c in 0..clients {
            let counts = &counts;
            s.spawn(move || {
                let mut k = 0;
                while !a.over() {
                    k += 1;
                    let name = format!("flood-{c}-{k}");
                    let body = json!({"nickname": name, "email": format!("{name}@example.org"), "password": "flood-password"});
                    let (status, _) = post(a, Attack::attacker(0), "/register", body, Duration::from_secs(30));
                    counts.add(match status { Some(200) => 0, Some(429) => 1, Some(503) => 2, Some(_) => 3, None => 4 }, 1);
                }
            });
        }
        s.spawn(|| {
            for n in 1..=a.scale(4, 1) {
                sleep_until(start + login_every * n as u32, || a.over());
                let (status, took) = a.admin_login(loopback(TIMED_ADDRESS), Duration::from_secs(5));
                super::platform::lock(&logins).push((status, took));
            }
        });
    });
    let logins = super::platform::lock(&logins).clone();
    let fast = logins
        .iter()
        .filter(|(s, t)| *s == Some(200) && *t <= Duration::from_secs(3))
        .count();
    let shown: Vec<String> = logins
        .iter()
        .map(|(s, t)| match s {
            Some(s) => format!("{s} in {} ms", ms(*t)),
            None => format!("none in {} ms", ms(*t)),
        })
        .collect();
    let mut out = Outcome::default();
    out.note(format!(
        "registrations from one address: {} made, {} 429, {} 503, {} other, {} unanswered; logins from another: {}",
        counts.get(0), counts.get(1), counts.get(2), counts.get(3), counts.get(4), shown.join(", ")
    ));
    out.check(
        format!("{} of {} logins within 3 s", fast, logins.len()),
        fast == logins.len(),
    );
    out.check("registrations limited per address (429)", counts.get(1) > 0);
    out
}

/// Nicknames that look like `admin` (which exists) to a reader, with
/// what makes them differ.
const LOOK_ALIKES: [(&str, &str); 14] = [
    ("Admin", "capital A"),
    ("ADMIN", "capitals"),
    ("ad\u{200b}min", "zero-width space"),
    ("\u{0430}dmin", "Cyrillic a"),
    ("nimda\u{202e}", "right-to-left override after"),
    ("\u{202e}nimda", "right-to-left override before"),
    ("\u{ff41}\u{ff44}\u{ff4d}\u{ff49}\u{ff4e}", "fullwidth"),
    ("admin\u{00ad}", "soft hyphen"),
    ("admin\u{2060}", "word joiner"),
    ("adm\u{0131}n", "dotless i"),
    ("\u{0430}dm\u{0456}n", "Cyrillic a and i"),
    ("\u{0251}dmin", "Latin alpha"),
    ("admin\u{e000}", "private use"),
    ("a\u{200d}dmin", "zero-width joiner"),
];

/// Item 9: each look-alike registered from its own address (so that a
/// registration limit does not decide); all must be refused, while a plain
/// new name and an email differing only in case are tried as well.
pub fn look_alike_names(a: &Attack) -> Outcome {
    let mut accepted = Vec::new();
    for (i, (name, label)) in LOOK_ALIKES.iter().enumerate() {
        let body = json!({"nickname": name, "email": format!("lookalike{i}@example.org"), "password": "look-alike-pw"});
        let (status, _) = post(
            a,
            Attack::attacker(i),
            "/register",
            body,
            Duration::from_secs(5),
        );
        if !matches!(status, Some(400 | 409)) {
            accepted.push(format!(
                "{label} ({})",
                status.map_or("none".into(), |s| s.to_string())
            ));
        }
    }
    let email = ADMIN_EMAIL.to_uppercase();
    let body = json!({"nickname": "someone-else", "email": email, "password": "look-alike-pw"});
    let (email_status, _) = post(
        a,
        Attack::attacker(20),
        "/register",
        body,
        Duration::from_secs(5),
    );
    let body = json!({"nickname": "grace-hopper", "email": "grace@example.org", "password": "look-alike-pw"});
    let (plain_status, _) = post(
        a,
        Attack::attacker(21),
        "/register",
        body,
        Duration::from_secs(5),
    );
    let refused = LOOK_ALIKES.len() - accepted.len();
    let mut out = Outcome::default();
    out.note(format!(
        "{refused} of {} look-alikes of `admin` refused",
        LOOK_ALIKES.len()
    ));
    if !accepted.is_empty() {
        out.note(format!("accepted: {}", accepted.join(", ")));
    }
    out.note(format!(
        "`{email}` as a new email: {}; a plain new name: {}",
        shown(email_status),
        shown(plain_status)
    ));
    out.check("every look-alike refused", accepted.is_empty());
    out.check("email unique regardless of case", email_status == Some(409));
    out.check(
        "a plain new name still registers",
        plain_status == Some(200),
    );
    out
}

/// Item 12: 10 wrong guesses from attacker addresses (by nickname, then by
/// email in other case), each followed by the right password from an
/// address without failures; then a guessing storm from 24 addresses, to
/// show how many guesses the platform evaluates per account.
pub fn lockout(a: &Attack) -> Outcome {
    let mut out = Outcome::default();
    let right = a.platform.admin_password.clone();
    let spellings = [
        ("nickname", ADMIN_NAME.to_owned()),
        ("email", ADMIN_EMAIL.to_uppercase()),
    ];
    for (round, (key, value)) in spellings.iter().enumerate() {
        for g in 0..10 {
            let body = json!({ *key: value, "password": format!("wrong-guess-{g}") });
            post(
                a,
                Attack::attacker(round * 10 + g),
                "/login",
                body,
                Duration::from_secs(5),
            );
        }
        let body = json!({ *key: value, "password": right });
        let (status, _) = post(
            a,
            loopback(TIMED_ADDRESS + round as u8),
            "/login",
            body,
            Duration::from_secs(5),
        );
        out.note(format!(
            "after 10 wrong guesses by {key}: the right password from another address got {}",
            shown(status)
        ));
        out.check(
            format!("right password by {key} accepted after 10 guesses"),
            status == Some(200),
        );
    }
    let storm_end = Instant::now() + Duration::from_secs(a.scale(10, 2) as u64);
    let counts = Tally::new(3); // 401, 429, other
    std::thread::scope(|s| {
        for t in 0..usize::from(super::attack::ATTACKER_ADDRESSES) {
            let counts = &counts;
            s.spawn(move || {
                let mut g = 0;
                while Instant::now() < storm_end && !a.over() {
                    g += 1;
                    let body =
                        json!({"nickname": ADMIN_NAME, "password": format!("storm-{t}-{g}")});
                    let (status, _) = post(
                        a,
                        Attack::attacker(t),
                        "/login",
                        body,
                        Duration::from_secs(5),
                    );
                    counts.add(
                        match status {
                            Some(401) => 0,
                            Some(429) => 1,
                            _ => 2,
                        },
                        1,
                    );
                }
            });
        }
    });
    let body = json!({"nickname": ADMIN_NAME, "password": right});
    let (after, _) = post(
        a,
        loopback(TIMED_ADDRESS + 2),
        "/login",
        body,
        Duration::from_secs(5),
    );
    out.note(format!(
        "storm from 24 addresses: {} guesses evaluated (401), {} refused (429), {} other; the right password then got {}",
        counts.get(0), counts.get(1), counts.get(2), shown(after)
    ));
    out
}
