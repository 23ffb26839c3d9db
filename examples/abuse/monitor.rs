//! What the driver measures while an attack runs: the platform's RSS,
//! threads and open descriptors from /proc every 250 ms ([`Sampler`]), and
//! a legitimate client on its own address ([`Prober`]) that opens a new TLS
//! connection every 200 ms, sends `GET /login` and counts a 200 within 3 s.

use super::net::{exchange, loopback};
use super::procfs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The legitimate client's address; attackers use 127.0.0.1 to .24 and
/// timed logins 127.0.0.200 and up.
pub const PROBER_ADDRESS: u8 = 250;
const PROBE_EVERY: Duration = Duration::from_millis(200);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
const DB_COUNT_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
    /// Connections to PostgreSQL: the pool's, which it keeps while they are
    /// in use and closes after `pg_pool_idle_seconds`.
    pub db_conns: u64,
}

#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub at: Instant,
    pub ok: bool,
    pub took: Duration,
}

/// A thread that runs `step` until stopped, collecting what it returns.
struct Looper<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<T>>>,
}

impl<T: Send + 'static> Looper<T> {
    fn start(every: Duration, mut step: impl FnMut() -> Option<T> + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                seen.extend(step());
                if let Some(rest) = every.checked_sub(started.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            seen
        });
        Looper {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<T> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

pub struct Sampler(Looper<Sample>);

impl Sampler {
    pub fn start(pid: u32, pg_port: u16) -> Sampler {
        // The TCP table is the whole network namespace's: after a flood of
        // connections it holds thousands of closing ones and takes long to
        // read, so the database connections are counted once a second.
        let mut db: Option<(Instant, u64)> = None;
        Sampler(Looper::start(SAMPLE_EVERY, move || {
            let at = Instant::now();
            if db.is_none_or(|(then, _)| at - then >= DB_COUNT_EVERY) {
                if let Ok(n) = procfs::tcp_connections_to(pid, pg_port) {
                    db = Some((at, n));
                }
            }
            Some(Sample {
                at,
                rss_kib: procfs::rss_kib(pid).ok()?,
                threads: procfs::threads(pid).ok()?,
                fds: procfs::open_fds(pid).ok()?,
                db_conns: db.map_or(0, |(_, n)| n),
            })
        }))
    }

    pub fn finish(self) -> Vec<Sample> {
        self.0.finish()
    }
}

pub struct Prober(Looper<Probe>);

impl Prober {
    pub fn start(port: u16, tls: Arc<rustls::ClientConfig>) -> Prober {
        let request = b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        Prober(Looper::start(PROBE_EVERY, move || {
            let at = Instant::now();
            let from = loopback(PROBER_ADDRESS);
            let reply = exchange(from, port, &tls, request, PROBE_TIMEOUT);
            let ok = matches!(reply, Ok(ref r) if r.status == 200);
            Some(Probe {
                at,
                ok,
                took: at.elapsed(),
            })
        }))
    }

    pub fn finish(self) -> Vec<Probe> {
        self.0.finish()
    }
}

/// The legitimate client's figures over probes started in `[from, to)`.
pub struct LegitFigures {
    pub sent: usize,
    pub ok: usize,
    pub p99: Option<Duration>,
}

impl LegitFigures {
    pub fn over(probes: &[Probe], from: Instant, to: Instant) -> LegitFigures {
        let window: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.at >= from && p.at < to)
            .collect();
        let mut took: Vec<Duration> = window.iter().filter(|p| p.ok).map(|p| p.took).collect();
        took.sort();
        LegitFigures {
            sent: window.len(),
            ok: took.len(),
            p99: (!took.is_empty()).then(|| procfs::percentile(&took, 0.99)),
        }
    }

    pub fn percent(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * self.ok as f64 / self.sent as f64
    }
}

/// Before / peak / after of one measure.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub before: u64,
    pub peak: u64,
    pub after: u64,
}

/// "Before" and "after" are the smallest value of the second before the
/// attack and of the second ending at the after mark, so that a probe that
/// happens to be in flight (one connection, two threads) is not counted as
/// the platform's own; "peak" is the largest value in between.
pub fn span(samples: &[Sample], start: Instant, after: Instant, f: fn(&Sample) -> u64) -> Span {
    let second = Duration::from_secs(1);
    // Without a sample in the second (the sampler was slow), the last one
    // before its end stands for it; never a made-up zero.
    let min_in = |a: Instant, b: Instant| {
        let within = samples
            .iter()
            .filter(|s| s.at >= a && s.at <= b)
            .map(f)
            .min();
        within
            .or_else(|| samples.iter().rev().find(|s| s.at <= b).map(f))
            .unwrap_or(0)
    };
    Span {
        before: min_in(start - second, start),
        peak: samples
            .iter()
            .filter(|s| s.at >= start && s.at <= after)
            .map(f)
            .max()
            .unwrap_or(0),
        after: min_in(after - second, after),
    }
}
