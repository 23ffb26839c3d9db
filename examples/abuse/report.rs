//! The table: one Markdown row per attack with the legitimate client's
//! figures, RSS, threads and descriptors before / peak / after, the
//! verdict and the notes.

use super::attack::Outcome;
use super::monitor::{span, LegitFigures, Sample, Span};
use std::time::Instant;

pub struct Row {
    pub name: &'static str,
    pub item: u8,
    pub outcome: Outcome,
    pub legit: LegitFigures,
    pub rss_kib: Span,
    pub threads: Span,
    pub fds: Span,
    pub db_conns: Span,
}

impl Row {
    pub fn new(name: &'static str, item: u8, outcome: Outcome) -> Row {
        Row {
            name,
            item,
            outcome,
            legit: LegitFigures {
                sent: 0,
                ok: 0,
                p99: None,
            },
            rss_kib: Span::default(),
            threads: Span::default(),
            fds: Span::default(),
            db_conns: Span::default(),
        }
    }

    /// A row for an attack that could not be run.
    pub fn failed(name: &'static str, item: u8, why: &str) -> Row {
        let mut outcome = Outcome::default();
        outcome.check(format!("attack ran ({why})"), false);
        Row::new(name, item, outcome)
    }

    pub fn measure(&mut self, samples: &[Sample], start: Instant, after: Instant) {
        self.rss_kib = span(samples, start, after, |s| s.rss_kib);
        self.threads = span(samples, start, after, |s| s.threads);
        self.fds = span(samples, start, after, |s| s.fds);
        self.db_conns = span(samples, start, after, |s| s.db_conns);
    }

    pub fn held(&self) -> bool {
        !self.outcome.checks.is_empty() && self.outcome.checks.iter().all(|(_, ok)| *ok)
    }

    pub fn markdown(&self) -> String {
        let mib = |k: u64| format!("{:.0}", k as f64 / 1024.0);
        let three = |s: &Span, f: &dyn Fn(u64) -> String| {
            format!("{} / {} / {}", f(s.before), f(s.peak), f(s.after))
        };
        let failed: Vec<&str> = self
            .outcome
            .checks
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(what, _)| what.as_str())
            .collect();
        let verdict = if self.held() {
            "holds".to_owned()
        } else {
            format!("**fails**: {}", failed.join("; "))
        };
        let p99 = self
            .legit
            .p99
            .map_or("–".to_owned(), |d| d.as_millis().to_string());
        format!(
            "| {} {} | {:.0} % ({}/{}) | {p99} | {} | {} | {} | {verdict} | {} |",
            self.item,
            self.name,
            self.legit.percent(),
            self.legit.ok,
            self.legit.sent,
            three(&self.rss_kib, &mib),
            three(&self.threads, &|n| n.to_string()),
            three(&self.fds, &|n| n.to_string()),
            self.outcome.notes.join("; ").replace('|', "\\|"),
        )
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| attack | legit OK | legit p99 ms | RSS MiB before / peak / after | threads before / peak / after | fds before / peak / after | verdict | notes |\n|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        out.push_str(&row.markdown());
        out.push('\n');
    }
    out
}
