//! What the soak measures (the server's RSS, threads and descriptors from
//! /proc) and what it concludes. Each verdict prints one line; the failed
//! ones are joined into the one line the driver ends with.

use super::load::{get, Counts};
use super::platform::Res;
use super::procfs;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How long threads and descriptors may take to come back after the load:
/// idle pool connections close on the pool's 30 s round.
const SETTLE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub t: u64,
    pub rss_kib: u64,
    pub threads: u64,
    pub fds: u64,
}

impl Sample {
    pub const HEADER: &str = "|    t s | RSS MiB | threads |  fds |  reads | logins | registered | module starts | events heard |\n|-------:|--------:|--------:|-----:|-------:|-------:|-----------:|--------------:|-------------:|";

    pub fn of(pid: u32, t: u64) -> Res<Sample> {
        Ok(Sample {
            t,
            rss_kib: procfs::rss_kib(pid)?,
            threads: procfs::threads(pid)?,
            fds: procfs::open_fds(pid)?,
        })
    }

    pub fn row(&self, c: &Counts) -> String {
        format!(
            "| {:>6} | {:>7.1} | {:>7} | {:>4} | {:>6} | {:>6} | {:>10} | {:>13} | {:>12} |",
            self.t,
            self.rss_kib as f64 / 1024.0,
            self.threads,
            self.fds,
            get(&c.reads_ok),
            get(&c.logins_ok),
            get(&c.registrations_ok),
            get(&c.module_starts),
            get(&c.module_events),
        )
    }
}

/// The counts that must keep growing after PostgreSQL's restart.
#[derive(Clone, Copy)]
pub struct Progress {
    module_starts: u64,
    module_failures: u64,
    logins_ok: u64,
    logins_other: u64,
}

impl Progress {
    pub fn of(c: &Counts) -> Progress {
        Progress {
            module_starts: get(&c.module_starts),
            module_failures: get(&c.module_failures),
            logins_ok: get(&c.logins_ok),
            logins_other: get(&c.logins_other),
        }
    }
}

pub struct Verdicts {
    baseline: Sample,
    rss_growth: f64,
    failed: Vec<String>,
}

impl Verdicts {
    pub fn new(baseline: Sample, rss_growth: f64) -> Verdicts {
        Verdicts {
            baseline,
            rss_growth,
            failed: Vec::new(),
        }
    }

    fn check(&mut self, what: String, held: bool) {
        println!("verdict: {what}: {}", if held { "holds" } else { "FAILS" });
        if !held {
            self.failed.push(what);
        }
    }

    /// The peak RSS of the last `window` seconds of the load against the
    /// peak of the last `window` seconds of the warm-up: peaks, because RSS
    /// follows the waves of connections (each thread's stack), and the
    /// windows are as long as a printed row's, longer than a wave.
    pub fn rss(&mut self, samples: &[Sample], warmup: u64, end: u64, window: u64) {
        let peak = |to: u64| {
            samples
                .iter()
                .filter(|s| s.t <= to && s.t + window > to)
                .map(|s| s.rss_kib)
                .max()
                .unwrap_or(0)
        };
        let (warm, loaded) = (peak(warmup), peak(end));
        let growth = (loaded as f64 / warm.max(1) as f64 - 1.0) * 100.0;
        let what = format!(
            "RSS peak {:.1} MiB in the {window} s to {warmup} s (end of warm-up), {:.1} MiB in the {window} s to {end} s: {growth:+.1} % (limit {} %)",
            warm as f64 / 1024.0,
            loaded as f64 / 1024.0,
            self.rss_growth
        );
        self.check(what, warm > 0 && growth < self.rss_growth);
    }

    /// Waits up to [`SETTLE`] for threads and descriptors to come back to
    /// the baseline.
    pub fn settle(&mut self, pid: u32, counts: &Counts) -> Res<()> {
        let start = Instant::now();
        let base = self.baseline;
        let mut last = Sample::of(pid, 0)?;
        while (last.threads > base.threads || last.fds > base.fds) && start.elapsed() < SETTLE {
            std::thread::sleep(Duration::from_secs(1));
            last = Sample::of(pid, 0)?;
        }
        println!(
            "{}  (after the load, {} s later)",
            last.row(counts),
            start.elapsed().as_secs()
        );
        let t = start.elapsed().as_secs();
        self.check(
            format!(
                "threads back to {} within {t} s: {}",
                base.threads, last.threads
            ),
            last.threads <= base.threads,
        );
        self.check(
            format!(
                "descriptors back to {} within {t} s: {}",
                base.fds, last.fds
            ),
            last.fds <= base.fds,
        );
        Ok(())
    }

    /// Every acknowledged registration of this run is a row of `users`.
    pub fn registrations(
        &mut self,
        db: &mut postgres::Client,
        run: &str,
        acknowledged: &[String],
    ) -> Res<()> {
        let rows = db.query(
            "SELECT name FROM users WHERE name LIKE $1",
            &[&format!("{run}-%")],
        )?;
        let stored: HashSet<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .collect();
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|n| !stored.contains(*n))
            .collect();
        let what = format!(
            "{} acknowledged registrations in the database: {} missing{}",
            acknowledged.len(),
            missing.len(),
            missing
                .first()
                .map_or(String::new(), |n| format!(" (first: {n})"))
        );
        self.check(what, missing.is_empty());
        Ok(())
    }

    /// Once PostgreSQL has been back for a while, everything works again:
    /// between `then` (the counts at that moment) and the end, module starts
    /// and logins succeed and none fails.
    pub fn recovered(&mut self, then: Progress, c: &Counts) {
        let now = Progress::of(c);
        let starts = now.module_starts - then.module_starts;
        let start_failures = now.module_failures - then.module_failures;
        let logins = now.logins_ok - then.logins_ok;
        let login_failures = now.logins_other - then.logins_other;
        let what = format!(
            "after PostgreSQL was back: {starts} module starts ({start_failures} failed), {logins} logins ({login_failures} failed)"
        );
        let held = starts > 0 && logins > 0 && start_failures == 0 && login_failures == 0;
        self.check(what, held);
    }

    /// The load really ran: something of each kind succeeded.
    pub fn load_ran(&mut self, c: &Counts) {
        let what = format!(
            "load ran: {} reads ({} not 200), {} logins ({} failed), {} registrations ({} refused), {} logouts, {} module starts ({} failed), {} broadcasts heard",
            get(&c.reads_ok), get(&c.reads_other), get(&c.logins_ok), get(&c.logins_other),
            get(&c.registrations_ok), get(&c.registrations_other), get(&c.logouts_ok),
            get(&c.module_starts), get(&c.module_failures), get(&c.module_events)
        );
        let ran = [
            &c.reads_ok,
            &c.logins_ok,
            &c.registrations_ok,
            &c.module_starts,
            &c.module_events,
        ]
        .iter()
        .all(|n| get(n) > 0);
        self.check(what, ran);
    }

    pub fn failed(&self) -> Option<String> {
        (!self.failed.is_empty()).then(|| self.failed.join("; "))
    }
}
