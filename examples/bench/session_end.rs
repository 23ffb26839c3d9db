//! `session-end`: how long a connected module keeps accepting a token after
//! its session ended. The module is the crate's own client
//! (`module_client`), which caches tokens from `user_login` and drops them
//! on `user_logout` and `session_ended`; "refused" is the first moment its
//! cache no longer serves the token, after which it would ask the platform
//! and hear no.
//!
//! - `--end logout`: each session is ended by `POST /logout`; the time runs
//!   from the logout's reply.
//! - `--end expiry`: each session is left unused until its sliding expiry
//!   (run the platform with a short `token_ttl_seconds`); the time runs
//!   from that second, and ends when the janitor's `session_ended` arrives,
//!   so it is bounded by the janitor's period. The client's revalidation is
//!   set beyond the run so that it does not hide a missing message.
//!
//! Sessions are measured one after another for `logout`; for `expiry` a
//! watcher times every open session while the others are still made.

use super::{common, http_agent, ms, percentile, Res};
use serde_json::{json, Value};
use sse_platform::module_client::{ModuleClient, Options};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A module that still accepts a token this long after the end has not
/// heard of the end at all.
const GIVE_UP: Duration = Duration::from_secs(180);

pub fn run(args: &mut pico_args::Arguments) -> Res<()> {
    let base: String = args.value_from_str("--base")?;
    let user: String = args.value_from_str("--user")?;
    let password: String = args.value_from_str("--password")?;
    let sessions: usize = args.value_from_str("--sessions")?;
    let end: String = args.value_from_str("--end")?;
    let c = common(args)?;
    let (name, seed) = c.seeds.first().ok_or("no seeds")?.clone();
    let mut options = Options::new(&c.target.url, &name, &seed, 10_000);
    options.ca_pem = c.target.ca_pem.clone();
    options.timeout = Duration::from_secs(30);
    options.revalidate_after = Duration::from_secs(24 * 3600);
    let client = ModuleClient::connect(options)?;
    let agent = http_agent(&c)?;
    let login = || -> Res<String> {
        let body = json!({"nickname": user, "password": password}).to_string();
        let mut resp = agent
            .post(&format!("{base}/login"))
            .header("Content-Type", "application/json")
            .send(body)?;
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
        let token = v["access_token"].as_str().ok_or("login failed")?.to_owned();
        wait_cached(&client, &token)?;
        Ok(token)
    };
    let mut delays = match end.as_str() {
        "logout" => by_logout(&client, &agent, &base, sessions, &login)?,
        "expiry" => by_expiry(&client, sessions, &login)?,
        other => return Err(format!("--end {other}: expected logout or expiry").into()),
    };
    delays.sort();
    println!(
        "session-end ({end}): {sessions} sessions; end to the module's refusal: p50 {} p99 {} max {}",
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(*delays.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}

/// Waits until the module has the token from its `user_login`.
fn wait_cached(client: &ModuleClient, token: &str) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.cache().get(token).is_none() {
        if Instant::now() > deadline {
            return Err("the module never heard the user_login".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

fn by_logout(
    client: &ModuleClient,
    agent: &ureq::Agent,
    base: &str,
    sessions: usize,
    login: &dyn Fn() -> Res<String>,
) -> Res<Vec<Duration>> {
    let mut delays = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let token = login()?;
        let resp = agent
            .post(&format!("{base}/logout"))
            .header("Authorization", &token)
            .send_empty()?;
        let ended = Instant::now();
        if resp.status() != 200 {
            return Err(format!("logout answered {}", resp.status()).into());
        }
        while client.cache().get(&token).is_some() {
            if ended.elapsed() > GIVE_UP {
                return Err("the module still accepts a logged-out token".into());
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        delays.push(ended.elapsed());
    }
    Ok(delays)
}

fn by_expiry(
    client: &ModuleClient,
    sessions: usize,
    login: &dyn Fn() -> Res<String>,
) -> Res<Vec<Duration>> {
    // (token, its sliding expiry in Unix seconds), from one validation right
    // after login; nothing uses the token afterwards. A watcher runs from
    // the start, so that sessions ending while others log in are timed too.
    let open: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::with_capacity(sessions));
    let all_open = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch(client, &open, &all_open));
        let made = (|| -> Res<()> {
            for _ in 0..sessions {
                let token = login()?;
                let v = client.request(
                    json!({"type": "token_validation", "access_token": token}),
                    Duration::from_secs(30),
                )?;
                let expires = v["user"]["expires"].as_i64().ok_or("no expires")?;
                open.lock().map_err(|_| "poisoned")?.push((token, expires));
            }
            Ok(())
        })();
        if made.is_err() {
            // The watcher would wait for sessions that will not end in time.
            open.lock().map_err(|_| "poisoned")?.clear();
        }
        all_open.store(true, Ordering::SeqCst);
        let delays = watcher.join().map_err(|_| "watcher panicked")?;
        made.and(delays)
    })
}

/// Times each open token from its expiry to the cache dropping it.
fn watch(
    client: &ModuleClient,
    open: &Mutex<Vec<(String, i64)>>,
    all_open: &AtomicBool,
) -> Res<Vec<Duration>> {
    let mut delays = Vec::new();
    loop {
        let done = all_open.load(Ordering::SeqCst);
        let now = unix_now();
        let mut open = open.lock().map_err(|_| "poisoned")?;
        if done && open.is_empty() {
            return Ok(delays);
        }
        if let Some((_, expires)) = open.iter().min_by_key(|(_, e)| *e) {
            if now > *expires as f64 + GIVE_UP.as_secs_f64() {
                return Err(format!(
                    "a session ended {} s ago is still accepted: does the platform send session_ended?",
                    GIVE_UP.as_secs()
                )
                .into());
            }
        }
        // A hit renews only the cache's idle time, never the session.
        open.retain(|(token, expires)| {
            if client.cache().get(token).is_some() {
                return true;
            }
            delays.push(Duration::from_secs_f64((now - *expires as f64).max(0.0)));
            false
        });
        drop(open);
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
