//! A small stderr logger behind the `log` facade.
//!
//! `RUST_LOG` selects the level (`error`, `warn`, `info`, `debug`, `trace`;
//! default `info`). One line per record, UTC timestamp first, so that lines
//! sort and grep well; `log_format: json` makes each line one JSON object
//! (`line`). The ids a thread works for (`context`) go on every line it
//! writes. Callers must never pass secrets (passwords, tokens, cookies,
//! query strings, keys) into a log line or its fields.
//!
//! Lines are written in batches: a warning or an error goes out at once,
//! together with everything logged before it; info lines wait at most
//! `FLUSH_AFTER` for a small flusher thread. One `write` per request, and
//! worker threads queueing on the stderr lock behind it, cost more than the
//! rest of a cached GET's handler; a batch costs one `write` for all.
//! Panics (through a hook) and exits flush first, so the lines before a
//! stack trace are printed before it.

mod context;
mod line;

pub use context::{scope, Scope};
pub use line::Format;

use crate::lock::lock;
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

/// The longest an info line waits before it is written.
const FLUSH_AFTER: Duration = Duration::from_millis(50);
/// Pending bytes that are written at once, whatever their age.
const FLUSH_BYTES: usize = 64 * 1024;

/// Whether lines are JSON: set once, when the config has been read (lines
/// before that, such as the config's own warnings, are text).
static JSON: AtomicBool = AtomicBool::new(false);

/// Writes every line from now on in `format`.
pub fn set_format(format: Format) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
}

struct StderrLogger {
    level: LevelFilter,
    pending: Mutex<Vec<u8>>,
    /// Woken when `pending` stops being empty.
    flusher: OnceLock<Thread>,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let format = if JSON.load(Ordering::Relaxed) {
            Format::Json
        } else {
            Format::Text
        };
        let line = line::render(format, record, &timestamp(), context::current());
        let mut pending = lock(&self.pending);
        let first = pending.is_empty();
        pending.extend_from_slice(line.as_bytes());
        let urgent = record.level() <= Level::Warn || pending.len() >= FLUSH_BYTES;
        match self.flusher.get() {
            Some(flusher) if !urgent => {
                if first {
                    drop(pending);
                    flusher.unpark();
                }
            }
            // Without a flusher thread every line is written at once.
            _ => write_out(&mut pending),
        }
    }

    fn flush(&self) {
        write_out(&mut lock(&self.pending));
    }
}

impl StderrLogger {
    /// `flush` for the panic hook, which may run while this thread holds
    /// the lock (then the batch is left to the flusher).
    fn try_flush(&self) {
        if let Ok(mut pending) = self.pending.try_lock() {
            write_out(&mut pending);
        }
    }
}

/// Writes the batch in one call (lines from different threads stay whole).
fn write_out(pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        let _ = std::io::stderr().lock().write_all(pending);
        pending.clear();
    }
}

/// Installs the logger, its flusher thread and a panic hook that flushes
/// before the panic message; the level comes from `RUST_LOG`.
pub fn init() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Info);
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger {
        level,
        pending: Mutex::new(Vec::new()),
        flusher: OnceLock::new(),
    }));
    if log::set_logger(logger).is_err() {
        return;
    }
    log::set_max_level(level);
    let flusher = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || loop {
            std::thread::park();
            std::thread::sleep(FLUSH_AFTER);
            logger.flush();
        });
    if let Ok(handle) = flusher {
        let _ = logger.flusher.set(handle.thread().clone());
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        logger.try_flush();
        previous(info);
    }));
}

/// Silences the log: the command-line tools speak on stdout and stderr
/// themselves, one line per result or error.
pub fn quiet() {
    log::set_max_level(LevelFilter::Off);
}

/// Writes every pending line; call before the process exits.
pub fn flush() {
    log::logger().flush();
}

/// `2026-11-30T11:31:40.123Z`, computed from the system clock without a
/// time-zone database.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = crate::clock::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}
