//! The counters behind `GET /metrics`: plain atomics in one static
//! registry, so that every layer (the listener, the hub, the database
//! pool, the mail thread) can count without a lock and without being
//! handed a value. This is the one shared state outside `Ctx`: it only
//! ever grows or is read, and nothing decides anything by it.
//!
//! Gauges that other owners already know (pool state, queue lengths, open
//! module connections) are read when the page is written, not kept here.
//! `text` writes the Prometheus text exposition format.

pub mod text;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A value that only grows.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Counter::new()
    }
}

/// A value that goes up and down.
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Gauge {
        Gauge(AtomicI64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Counts one up until the returned guard is dropped.
    pub fn hold(&'static self) -> GaugeHold {
        self.inc();
        GaugeHold(self)
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Gauge::new()
    }
}

/// One unit of a gauge, given back on drop (also on a panic's unwinding).
pub struct GaugeHold(&'static Gauge);

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Upper bounds, in seconds, of the latency histograms' buckets.
pub const SECONDS_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BUCKETS: usize = SECONDS_BOUNDS.len();

/// Durations in fixed buckets (not cumulative here; `text` adds them up),
/// their sum in microseconds and their count.
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub const fn new() -> Histogram {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = SECONDS_BOUNDS.partition_point(|&b| b < secs);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Per bucket (the last one is `+Inf`) the observations in it, and
    /// the sum in seconds.
    pub fn snapshot(&self) -> ([u64; BUCKETS + 1], f64) {
        let counts = std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (counts, sum)
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The statuses counted one by one; any other is counted as `other`.
pub const STATUSES: [u16; 26] = [
    101, 200, 201, 204, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409, 410, 413,
    415, 422, 429, 431, 500, 502, 503,
];
/// Route slots: the HTTP layer numbers its routes (see `http::routes`); a
/// compile-time assertion there says when the table must grow.
pub const ROUTE_SLOTS: usize = 64;

/// Requests by route slot and status, a fixed table of counters.
pub struct Requests {
    counts: [[AtomicU64; STATUSES.len() + 1]; ROUTE_SLOTS],
}

impl Requests {
    const fn new() -> Requests {
        Requests {
            counts: [const { [const { AtomicU64::new(0) }; STATUSES.len() + 1] }; ROUTE_SLOTS],
        }
    }

    /// Counts a request of route slot `route` (the last slot takes any
    /// slot past the table) answered with `status`.
    pub fn count(&self, route: usize, status: u16) {
        let route = route.min(ROUTE_SLOTS - 1);
        let i = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        self.counts[route][i].fetch_add(1, Ordering::Relaxed);
    }

    /// The non-zero counts: (route slot, status or `None` for other, count).
    pub fn nonzero(&self) -> Vec<(usize, Option<u16>, u64)> {
        let mut out = Vec::new();
        for (route, row) in self.counts.iter().enumerate() {
            for (i, count) in row.iter().enumerate() {
                let n = count.load(Ordering::Relaxed);
                if n > 0 {
                    out.push((route, STATUSES.get(i).copied(), n));
                }
            }
        }
        out
    }
}

/// Every counter the platform keeps.
pub struct Metrics {
    pub requests: Requests,
    pub request_seconds: Histogram,
    /// Connections being bridged to tiny_http.
    pub http_connections: Gauge,
    pub logins_succeeded: Counter,
    pub logins_failed: Counter,
    pub bcrypt_seconds: Histogram,
    /// Jobs waiting in the hashing lane.
    pub hash_queue: Gauge,
    /// Checkouts that found no idle database connection.
    pub pool_waits: Counter,
    /// Broadcasts queued to a connection, held for one not signed in yet,
    /// and dropped (a full queue, or over the hold cap).
    pub broadcasts_sent: Counter,
    pub broadcasts_held: Counter,
    pub broadcasts_dropped: Counter,
    pub mails_sent: Counter,
    pub mails_failed: Counter,
    /// Audit entries written, and dropped (a full queue while the
    /// database was away for long, or unwritten at exit).
    pub audit_written: Counter,
    pub audit_dropped: Counter,
}

impl Metrics {
    const fn new() -> Metrics {
        Metrics {
            requests: Requests::new(),
            request_seconds: Histogram::new(),
            http_connections: Gauge::new(),
            logins_succeeded: Counter::new(),
            logins_failed: Counter::new(),
            bcrypt_seconds: Histogram::new(),
            hash_queue: Gauge::new(),
            pool_waits: Counter::new(),
            broadcasts_sent: Counter::new(),
            broadcasts_held: Counter::new(),
            broadcasts_dropped: Counter::new(),
            mails_sent: Counter::new(),
            mails_failed: Counter::new(),
            audit_written: Counter::new(),
            audit_dropped: Counter::new(),
        }
    }
}

/// The registry.
pub static METRICS: Metrics = Metrics::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_upper_bound() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let (counts, sum) = h.snapshot();
        assert_eq!(counts[0], 1, "0.5 ms is in le=0.0005");
        assert_eq!(counts[3], 1, "3 ms is in le=0.005");
        assert_eq!(counts[BUCKETS], 1, "a minute is in +Inf only");
        assert!((sum - 60.0035).abs() < 1e-9);
    }

    #[test]
    fn requests_count_by_route_and_status() {
        let r = Requests::new();
        r.count(2, 200);
        r.count(2, 200);
        r.count(1000, 299);
        assert_eq!(
            r.nonzero(),
            vec![(2, Some(200), 2), (ROUTE_SLOTS - 1, None, 1)]
        );
    }
}
