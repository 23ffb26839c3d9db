//! GET /metrics: who may read it, that the whole page is valid Prometheus
//! text (checked by the strict parser below, written from the format's
//! specification), and that the counters move as the platform works while
//! other load runs.

use crate::common;

use common::hub::hub;
use common::Server;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Samples by `name{label="value",...}` (labels sorted by name).
type Samples = BTreeMap<String, f64>;

fn scrape(server: &Server) -> Samples {
    let r = server.client().get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.body))
}

fn value(samples: &Samples, key: &str) -> f64 {
    *samples.get(key).unwrap_or(&0.0)
}

#[test]
fn counters_move_with_logins_modules_and_broadcasts_under_load() {
    let server = hub(json!({"login_max_failures": 100}));
    let before = scrape(&server);
    let web = server.client();
    web.register("mona", "mona-password");

    // Load meanwhile: GETs on two connections until the end of the test.
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (client, stop) = (server.client(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 5_000 {
                    assert_eq!(client.get("/auth/config").status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();

    let (good, bad) = (4, 3);
    for _ in 0..good {
        web.login("mona", "mona-password");
    }
    for _ in 0..bad {
        let r = web.post_form("/login", &[("nickname", "mona"), ("password", "wrong-one")]);
        assert_eq!(r.status, 401);
    }
    let mut module = common::original::start_v2(&server, "ListServ", 8001);
    let during = scrape(&server);
    let admin = web.login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let r = web
        .token(&admin)
        .post_form("/roles", &[("user_name", "mona"), ("role", "teacher")]);
    assert_eq!(r.status, 200);
    module
        .recv(Duration::from_secs(5))
        .expect("recv")
        .expect("the role change");

    stop.store(true, Ordering::Relaxed);
    let gets: u32 = load.into_iter().map(|t| t.join().expect("load")).sum();
    let after = scrape(&server);

    let grew = |key: &str| value(&during, key) - value(&before, key);
    assert_eq!(grew("sse_logins_total{result=\"succeeded\"}"), good as f64);
    assert_eq!(grew("sse_logins_total{result=\"failed\"}"), bad as f64);
    let login = |status| {
        format!("sse_http_requests_total{{method=\"POST\",route=\"/login\",status=\"{status}\"}}")
    };
    assert_eq!(grew(&login(200)), good as f64);
    assert_eq!(grew(&login(401)), bad as f64);
    assert!(grew("sse_bcrypt_duration_seconds_count") >= (1 + good + bad) as f64);
    assert_eq!(value(&during, "sse_modules_connected"), 1.0);
    assert_eq!(value(&during, "sse_connections_open{kind=\"module\"}"), 1.0);
    assert!(value(&during, "sse_connections_open{kind=\"http\"}") >= 1.0);
    assert!(value(&during, "sse_sessions_active") >= good as f64);

    let config = "sse_http_requests_total{method=\"GET\",route=\"/auth/config\",status=\"200\"}";
    assert!(value(&after, config) - value(&before, config) >= f64::from(gets));
    let sent = "sse_broadcasts_total{outcome=\"sent\"}";
    assert!(
        value(&after, sent) > value(&during, sent),
        "a broadcast was queued"
    );
    assert!(
        value(&after, "sse_http_request_duration_seconds_count")
            > value(&before, "sse_http_request_duration_seconds_count") + f64::from(gets)
    );
    for family in [
        "sse_db_pool_connections{state=\"idle\"}",
        "sse_hash_queue_length",
    ] {
        assert!(after.contains_key(family), "{family}");
    }
    let refusals = "sse_limiter_refusals_total{limiter=\"login_pair\"}";
    assert_eq!(value(&after, refusals), 0.0);
}

#[test]
fn a_refused_login_counts_for_its_limiter_not_as_a_failed_login() {
    let server = Server::start(json!({"login_max_failures": 2}), &[]);
    let web = server.client();
    web.register("olga", "olga-password");
    let wrong = [("nickname", "olga"), ("password", "wrong-one")];
    for _ in 0..2 {
        assert_eq!(web.post_form("/login", &wrong).status, 401);
    }
    web.post_form("/login", &wrong)
        .assert_error(429, "too_many_attempts");
    let page = scrape(&server);
    assert_eq!(value(&page, "sse_logins_total{result=\"failed\"}"), 2.0);
    assert_eq!(
        value(&page, "sse_limiter_refusals_total{limiter=\"login_pair\"}"),
        1.0
    );
    let refused = "sse_http_requests_total{method=\"POST\",route=\"/login\",status=\"429\"}";
    assert_eq!(value(&page, refused), 1.0);
}

#[test]
fn only_loopback_clients_and_admins_may_read_metrics() {
    let server = Server::start(
        json!({"trusted_proxies": ["127.0.0.1"]}),
        &["--create_admin"],
    );
    let web = server.client();
    // A client that a trusted proxy on loopback forwards is not on loopback.
    let far = web.header("X-Forwarded-For", "203.0.113.7");
    far.get("/metrics").assert_error(403, "forbidden");
    let user = web.register("nina", "nina-password");
    far.token(&user)
        .get("/metrics")
        .assert_error(403, "forbidden");
    let admin = web.login(common::ADMIN_NAME, common::ADMIN_PASSWORD);
    let r = far.token(&admin).get("/metrics");
    assert_eq!(r.status, 200, "{}", r.body);
    parse(&r.body).expect("valid");
    // The page never shows a raw path, only route names.
    assert_eq!(far.get("/login&password=secret").status, 404);
    let page = web.get("/metrics").body;
    assert!(!page.contains("secret"), "{page}");
    assert!(
        page.contains("route=\"(unrouted)\",status=\"404\""),
        "{page}"
    );
}

#[test]
fn the_parser_refuses_what_the_format_does_not_allow() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n";
    assert_eq!(parse(ok).expect("valid")["a_total{x=\"1\"}"], 2.0);
    let bad = [
        "a 1\n",                            // no TYPE
        "# TYPE a gauge\na{x=1} 1\n",       // unquoted value
        "# TYPE a gauge\na 1\na 2\n",       // duplicate
        "# TYPE a gauge\n# TYPE a gauge\n", // family twice
        "# TYPE a gauge\na one\n",          // not a number
        "# TYPE a gauge\nb 1\n",            // other family
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n",
        "# TYPE a gauge\na{x=\"\\q\"} 1\n", // bad escape
        "# TYPE a gauge\na 1",              // no final newline
    ];
    for text in bad {
        assert!(parse(text).is_err(), "accepted: {text:?}");
    }
}

/// Parses a whole page of the text format strictly: every sample belongs
/// to the family of the last `# TYPE`, families and samples are unique,
/// label values are quoted and escaped as specified, counters are not
/// negative and histogram buckets grow up to `+Inf`, which equals `_count`.
fn parse(text: &str) -> Result<Samples, String> {
    if !text.ends_with('\n') {
        return Err("the page must end with a newline".into());
    }
    let mut samples = Samples::new();
    let mut families = HashSet::new();
    let mut current: Option<(String, String)> = None;
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: &str| format!("line {}: {e}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            let (keyword, name) = (words.next(), words.next().ok_or_else(|| at("no name"))?);
            check_name(name).map_err(|e| at(&e))?;
            if keyword == Some("TYPE") {
                let kind = words.next().unwrap_or_default();
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at("unknown type"));
                }
                if !families.insert(name.to_owned()) {
                    return Err(at("family declared twice"));
                }
                check_histogram(&current, &buckets, &samples).map_err(|e| at(&e))?;
                buckets.clear();
                current = Some((name.to_owned(), kind.to_owned()));
            } else if keyword == Some("HELP") && families.contains(name) {
                return Err(at("HELP after the family's TYPE"));
            }
            continue;
        }
        let (name, labels, value) = sample(line).map_err(|e| at(&e))?;
        let Some((family, kind)) = &current else {
            return Err(at("sample before any TYPE"));
        };
        let suffix = name
            .strip_prefix(family.as_str())
            .ok_or_else(|| at("not of its family"))?;
        let allowed: &[&str] = match kind.as_str() {
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        if !allowed.contains(&suffix) {
            return Err(at("not of its family"));
        }
        if kind == "counter" && value < 0.0 {
            return Err(at("negative counter"));
        }
        if suffix == "_bucket" {
            let le = labels.get("le").ok_or_else(|| at("bucket without le"))?;
            buckets.push((number(le).map_err(|e| at(&e))?, value));
        }
        let key = key(&name, &labels);
        if samples.insert(key, value).is_some() {
            return Err(at("duplicate sample"));
        }
    }
    check_histogram(&current, &buckets, &samples)?;
    Ok(samples)
}

fn key(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::from(v.as_str())))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn check_histogram(
    current: &Option<(String, String)>,
    buckets: &[(f64, f64)],
    samples: &Samples,
) -> Result<(), String> {
    let Some((name, kind)) = current else {
        return Ok(());
    };
    if kind != "histogram" {
        return Ok(());
    }
    let increasing = buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
    let last = buckets.last().copied().unwrap_or((0.0, 0.0));
    let count = samples.get(&format!("{name}_count"));
    if !increasing || last.0 != f64::INFINITY || count != Some(&last.1) {
        return Err(format!(
            "histogram {name}: buckets not cumulative up to +Inf = _count"
        ));
    }
    if !samples.contains_key(&format!("{name}_sum")) {
        return Err(format!("histogram {name}: no _sum"));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad name {name:?}"))
    }
}

/// `name{k="v",...} value` (no timestamps: the platform writes none).
fn sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    check_name(name)?;
    let mut rest = &line[end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"").ok_or("label without =\"")?;
            let label = &rest[..eq];
            check_name(label)?;
            let (value, after) = label_value(&rest[eq + 2..])?;
            if labels.insert(label.to_owned(), value).is_some() {
                return Err("label twice".into());
            }
            rest = after.strip_prefix(',').unwrap_or(after);
            if !after.starts_with([',', '}']) {
                return Err("labels must be separated by commas".into());
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    Ok((name.to_owned(), labels, number(value)?))
}

/// A quoted label value's text (after the opening quote) and what follows
/// its closing quote.
fn label_value(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                _ => return Err("bad escape".into()),
            },
            '\n' => return Err("newline in a label value".into()),
            c => out.push(c),
        }
    }
    Err("unterminated label value".into())
}

fn number(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text.parse::<f64>().is_ok() && !text.contains(['i', 'I', 'n', 'N']) => {
            text.parse().map_err(|_| "not a number".into())
        }
        _ => Err(format!("not a number: {text:?}")),
    }
}
