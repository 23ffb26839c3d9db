//! The Prometheus text exposition format (version 0.0.4): `# HELP` and
//! `# TYPE` once per family, then its samples, label values escaped.

use super::{Histogram, SECONDS_BOUNDS};
use std::fmt::Write;

/// The media type of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A page being written; families must not repeat.
#[derive(Default)]
pub struct Page {
    out: String,
}

impl Page {
    pub fn into_string(self) -> String {
        self.out
    }

    /// Starts a family: `kind` is `counter`, `gauge` or `histogram`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the family just started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A whole histogram family of durations in seconds.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.family(name, "histogram", help);
        let (counts, sum) = h.snapshot();
        let bucket = format!("{name}_bucket");
        let mut total = 0;
        for (i, count) in counts.iter().enumerate() {
            total += count;
            let le = SECONDS_BOUNDS.get(i).map_or("+Inf".into(), |b| number(*b));
            self.sample(&bucket, &[("le", &le)], total as f64);
        }
        self.sample(&format!("{name}_sum"), &[], sum);
        self.sample(&format!("{name}_count"), &[], total as f64);
    }
}

/// A value as the format writes it: integers without a fraction.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_families_samples_and_escaped_labels() {
        let mut page = Page::default();
        page.family("x_total", "counter", "Things.");
        page.sample("x_total", &[("route", "a\"b\\c\nd")], 3.0);
        page.single("y", "gauge", "A level.", 0.25);
        assert_eq!(
            page.into_string(),
            "# HELP x_total Things.\n# TYPE x_total counter\n\
             x_total{route=\"a\\\"b\\\\c\\nd\"} 3\n\
             # HELP y A level.\n# TYPE y gauge\ny 0.25\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        h.observe(Duration::from_millis(2));
        h.observe(Duration::from_millis(20));
        let mut page = Page::default();
        page.histogram("t_seconds", "Time.", &h);
        let text = page.into_string();
        assert!(
            text.contains("t_seconds_bucket{le=\"0.001\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{le=\"0.0025\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("t_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("t_seconds_count 2\n"), "{text}");
    }
}
