//! `revocation`: how long a session ended on one process is still accepted
//! by another. Each round logs in on `--base` (A), asks `GET /me` on
//! `--base2` (B) with the token, which B now holds in its session cache,
//! ends the session with `POST /logout` on A, and then asks `GET /me` on B
//! again and again over one keep-alive connection until it answers 401. The
//! time runs from the logout's reply to that first 401: the trigger's
//! `NOTIFY`, B's `db-listen` thread and its cache.

use super::{agent, ms, percentile, Res};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// B still accepting a token this long after its logout has missed the
/// announcement altogether (its cache's own expiry is far longer).
const GIVE_UP: Duration = Duration::from_secs(30);

pub fn run(args: &mut pico_args::Arguments) -> Res<()> {
    let base: String = args.value_from_str("--base")?;
    let base2: String = args.value_from_str("--base2")?;
    let user: String = args.value_from_str("--user")?;
    let password: String = args.value_from_str("--password")?;
    let rounds: usize = args.value_from_str("--rounds")?;
    let ca: Option<String> = args.opt_value_from_str("--ca")?;
    let ca = ca.map(std::fs::read).transpose()?;
    let (a, b) = (agent(ca.as_deref(), false)?, agent(ca.as_deref(), false)?);
    let mut delays = Vec::with_capacity(rounds);
    let mut polls = 0;
    for _ in 0..rounds {
        let body = json!({"nickname": user, "password": password}).to_string();
        let mut resp = a
            .post(&format!("{base}/login"))
            .header("Content-Type", "application/json")
            .send(body)?;
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
        let token = v["access_token"].as_str().ok_or("login failed")?.to_owned();
        if me(&b, &base2, &token)? != 200 {
            return Err("B refused a fresh session".into());
        }
        let resp = a
            .post(&format!("{base}/logout"))
            .header("Authorization", &token)
            .send_empty()?;
        let ended = Instant::now();
        if resp.status() != 200 {
            return Err(format!("logout answered {}", resp.status()).into());
        }
        loop {
            polls += 1;
            match me(&b, &base2, &token)? {
                401 => break,
                200 if ended.elapsed() < GIVE_UP => continue,
                200 => return Err("B still accepts a session ended on A".into()),
                other => return Err(format!("GET /me on B answered {other}").into()),
            }
        }
        delays.push(ended.elapsed());
    }
    delays.sort();
    println!(
        "revocation: {rounds} sessions ended on A; logout reply to B's first 401: p50 {} p99 {} max {} ({:.1} GET /me per round)",
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(*delays.last().unwrap_or(&Duration::ZERO)),
        polls as f64 / rounds.max(1) as f64
    );
    Ok(())
}

/// `GET /me`'s status; the body is read so the connection is kept.
fn me(agent: &ureq::Agent, base: &str, token: &str) -> Res<u16> {
    let mut resp = agent
        .get(&format!("{base}/me"))
        .header("Authorization", token)
        .call()?;
    let _ = resp.body_mut().read_to_string()?;
    Ok(resp.status().as_u16())
}
