//! `message`: `message_module` round trips between two processes on one
//! database. Pair `j` is module `2j` (on `--url`) asking module `2j + 1` (on
//! `--url2`); the asked module answers with a `message_module_response` to
//! the `origin` the platform stamped, reusing the question's `resolve_id`
//! (module-protocol.md, "Requests and replies"), so the asker's `request`
//! matches it like any reply. Each question therefore crosses the outbox
//! twice: A writes it to `hub_events` for B, and B the answer for A.
//! A question unanswered within two seconds is counted, not waited for, so
//! that a lost event shows in the figures instead of stopping the run.

use super::{common, connect, ms, percentile, Res};
use serde_json::{json, Value};
use sse_platform::module_client::{uuid4, Connection, Signer};
use std::collections::HashSet;
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
    let latencies = Arc::new(Mutex::new(Asked::default()));
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
            let mut all = latencies.lock().map_err(|_| "poisoned")?;
            all.answered.extend(mine.answered);
            all.unanswered += mine.unanswered;
            all.late += mine.late;
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
    let all = std::mem::take(&mut *latencies.lock().map_err(|_| "poisoned")?);
    let mut lat = all.answered;
    lat.sort();
    println!(
        "message: {pairs} pairs across two processes, {} round trips in {elapsed:.1} s = {:.0}/s; p50 {} p99 {} max {}",
        lat.len(),
        lat.len() as f64 / elapsed,
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "message: {} questions unanswered within {} s ({} of them answered later)",
        all.unanswered,
        UNANSWERED.as_secs(),
        all.late
    );
    Ok(())
}

/// Asks until `to` answers: A learns of B's registration through the
/// database, so its first `message_module` may still find `to` offline.
fn warm_up(conn: &mut Connection, signer: &Signer, to: &str) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let id = uuid4();
        let question = json!({"type": "message_module", "to": to, "question": "ready?"});
        let inner = question.as_object().cloned().unwrap_or_default();
        conn.send(signer.envelope(inner, &id), Duration::from_secs(30))?;
        let asked = Instant::now();
        while let Some(text) = conn.recv(UNANSWERED.saturating_sub(asked.elapsed()))? {
            let v: Value = serde_json::from_str(&text)?;
            if v["resolve_id"] == id.as_str() {
                if v["success"] != false {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
                break;
            }
        }
    }
    Err(format!("{to} never answered a message_module").into())
}

/// What one asker saw: the round trips answered, the questions that had
/// no answer within `UNANSWERED`, and answers that came after that.
#[derive(Default)]
struct Asked {
    answered: Vec<Duration>,
    unanswered: usize,
    late: usize,
}

/// A question still unanswered after this is counted and the next asked;
/// the platform's outbox answers in milliseconds or not at all.
const UNANSWERED: Duration = Duration::from_secs(2);

/// Asks `to` one question after another for `length`.
fn ask(mut conn: Connection, signer: Signer, to: &str, length: Duration) -> Res<Asked> {
    let end = Instant::now() + length;
    let (mut asked, mut given_up) = (Asked::default(), HashSet::new());
    while Instant::now() < end {
        let (t, id) = (Instant::now(), uuid4());
        let question = json!({"type": "message_module", "to": to, "question": id});
        let inner = question.as_object().cloned().unwrap_or_default();
        conn.send(signer.envelope(inner, &id), Duration::from_secs(30))?;
        loop {
            let left = UNANSWERED.saturating_sub(t.elapsed());
            let Some(text) = conn.recv(left)? else {
                asked.unanswered += 1;
                given_up.insert(id);
                break;
            };
            let v: Value = serde_json::from_str(&text)?;
            let Some(rid) = v["resolve_id"].as_str() else {
                continue;
            };
            if given_up.remove(rid) {
                asked.late += 1;
            } else if rid == id {
                if v["type"] != "message_module_response" || v["success"] == false {
                    return Err(format!("message_module to {to}: {v}").into());
                }
                asked.answered.push(t.elapsed());
                break;
            }
        }
    }
    conn.close();
    Ok(asked)
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
