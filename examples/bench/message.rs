//! `message`: `message_module` round trips between two processes on one
//! database. Pair `j` is module `2j` (on `--url`) asking module `2j + 1` (on
//! `--url2`); the asked module answers with a `message_module_response` to
//! the `origin` the platform stamped, reusing the question's `resolve_id`
//! (module-protocol.md, "Requests and replies"), so the asker's `request`
//! matches it like any reply. Each question therefore crosses the outbox
//! twice: A writes it to `hub_events` for B, and B the answer for A.

use super::{common, connect, ms, percentile, request, Res};
use serde_json::{json, Value};
use sse_platform::module_client::{Connection, Signer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

pub fn run(args: &mut pico_args::Arguments) -> Res<()> {
    let seconds: u64 = args.value_from_str("--seconds")?;
    let c = common(args)?;
    if c.target2.is_none() || c.modules < 2 {
        return Err("message needs --url2 and --modules >= 2 (one pair per two)".into());
    }
    let pairs = c.modules / 2;
    let conns: Vec<_> = (0..pairs * 2).map(|i| connect(&c, i)).collect::<Res<_>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(pairs + 1));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (mut askers, mut answerers) = (Vec::new(), Vec::new());
    let (even, odd): (Vec<_>, Vec<_>) =
        conns.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, (conn, signer)) in odd {
        let stop = stop.clone();
        answerers.push(std::thread::spawn(move || answer(conn, signer, &stop)));
    }
    for (i, (mut conn, signer)) in even {
        let to = c.seeds[i + 1].0.clone();
        warm_up(&mut conn, &signer, &to)?;
        let (barrier, latencies) = (barrier.clone(), latencies.clone());
        askers.push(std::thread::spawn(move || -> Res<()> {
            barrier.wait();
            let mine = ask(conn, signer, &to, Duration::from_secs(seconds))?;
            latencies.lock().map_err(|_| "poisoned")?.extend(mine);
            Ok(())
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let asked: Res<()> = askers
        .into_iter()
        .try_for_each(|t| t.join().map_err(|_| "asker panicked")?);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for t in answerers {
        t.join().map_err(|_| "answerer panicked")??;
    }
    asked?;
    let mut lat = latencies.lock().map_err(|_| "poisoned")?.clone();
    lat.sort();
    println!(
        "message: {pairs} pairs across two processes, {} round trips in {elapsed:.1} s = {:.0}/s; p50 {} p99 {} max {}",
        lat.len(),
        lat.len() as f64 / elapsed,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}

/// Asks until `to` answers: A learns of B's registration through the
/// database, so its first `message_module` may still find `to` offline.
fn warm_up(conn: &mut Connection, signer: &Signer, to: &str) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let msg = json!({"type": "message_module", "to": to, "question": "ready?"});
        let reply = request(conn, signer, msg)?;
        if reply["success"] != false {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("message_module to {to}: {reply}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asks `to` one question after another for `length`; the round-trip times.
fn ask(mut conn: Connection, signer: Signer, to: &str, length: Duration) -> Res<Vec<Duration>> {
    let end = Instant::now() + length;
    let mut mine = Vec::new();
    while Instant::now() < end {
        let t = Instant::now();
        let reply = request(
            &mut conn,
            &signer,
            json!({"type": "message_module", "to": to, "question": mine.len()}),
        )?;
        if reply["type"] != "message_module_response" || reply["success"] == false {
            return Err(format!("message_module to {to}: {reply}").into());
        }
        mine.push(t.elapsed());
    }
    conn.close();
    Ok(mine)
}

/// Answers every `message_module` until `stop`.
fn answer(mut conn: Connection, signer: Signer, stop: &AtomicBool) -> Res<()> {
    while !stop.load(Ordering::SeqCst) {
        let Some(text) = conn.recv(Duration::from_millis(100))? else {
            continue;
        };
        let v: Value = serde_json::from_str(&text)?;
        if v["type"] != "message_module" {
            continue;
        }
        let (Some(origin), Some(id)) = (v["origin"].as_str(), v["resolve_id"].as_str()) else {
            return Err(format!("message_module without origin or resolve_id: {v}").into());
        };
        let inner =
            json!({"type": "message_module_response", "to": origin, "answer": v["question"]});
        let inner = inner.as_object().cloned().unwrap_or_default();
        conn.send(signer.envelope(inner, id), Duration::from_secs(30))?;
    }
    conn.close();
    Ok(())
}
