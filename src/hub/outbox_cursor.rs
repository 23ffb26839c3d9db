//! How far a process has read the outbox, when ids do not commit in order.
//!
//! `hub_events.id` comes from a sequence: a publisher takes id 100, another
//! takes 101 and commits first, and a reader that saw 101 and then asked
//! for ids above it would never see 100. So the cursor keeps the highest id
//! below which everything was seen (`contiguous`), and the ids above it
//! already delivered; the next read starts at `contiguous` and skips those.
//! A hole is waited for (its row's commit wakes the readers) until it is
//! `HOLE_WAIT` old: an id can also be lost for good (a rolled-back insert,
//! a sequence's cache after a crash), and the cursor must not stop there.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long a hole in the ids is waited for before it is skipped.
pub const HOLE_WAIT: Duration = Duration::from_secs(2);

pub struct OutboxCursor {
    contiguous: i64,
    delivered: BTreeSet<i64>,
    /// Since when the lowest hole has been open.
    hole_since: Option<Instant>,
}

impl OutboxCursor {
    /// A cursor that has seen every id up to `last`.
    pub fn after(last: i64) -> OutboxCursor {
        OutboxCursor {
            contiguous: last,
            delivered: BTreeSet::new(),
            hole_since: None,
        }
    }

    /// Where the next read starts (exclusive).
    pub fn read_from(&self) -> i64 {
        self.contiguous
    }

    /// Every id up to this one has been seen or given up (what the
    /// heartbeat reports, so that the janitor may prune below it).
    pub fn seen_up_to(&self) -> i64 {
        self.contiguous
    }

    /// Whether `id`, read now, is new: `true` once per id.
    pub fn take(&mut self, id: i64) -> bool {
        id > self.contiguous && self.delivered.insert(id)
    }

    /// After a read: moves past what is complete, and past a hole that has
    /// stayed open for `HOLE_WAIT` at `now`. `true` while a hole is open
    /// (the caller reads again later, even if nothing wakes it).
    pub fn settle(&mut self, now: Instant) -> bool {
        self.advance();
        let Some(&lowest) = self.delivered.first() else {
            self.hole_since = None;
            return false;
        };
        let since = *self.hole_since.get_or_insert(now);
        if now.saturating_duration_since(since) < HOLE_WAIT {
            return true;
        }
        log::warn!(
            "hub events {}..{} never committed; going on without them",
            self.contiguous + 1,
            lowest - 1
        );
        self.contiguous = lowest - 1;
        self.hole_since = None;
        self.advance();
        !self.delivered.is_empty()
    }

    fn advance(&mut self) {
        while self.delivered.remove(&(self.contiguous + 1)) {
            self.contiguous += 1;
            self.hole_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_commit_below_a_seen_id_is_still_delivered_once() {
        let now = Instant::now();
        let mut c = OutboxCursor::after(99);
        assert!(c.take(101), "101 committed first");
        assert!(c.settle(now), "100 is a hole");
        assert_eq!(c.read_from(), 99, "the next read asks from 99 on again");
        assert!(!c.take(101), "101 is not delivered twice");
        assert!(c.take(100), "100 committed late");
        assert!(!c.settle(now));
        assert_eq!((c.read_from(), c.seen_up_to()), (101, 101));
        assert!(!c.take(100) && !c.take(101));
    }

    #[test]
    fn a_hole_that_never_fills_is_skipped_after_the_wait() {
        let now = Instant::now();
        let mut c = OutboxCursor::after(10);
        assert!(c.take(12) && c.take(13));
        assert!(c.settle(now));
        assert!(c.settle(now + HOLE_WAIT / 2), "still waiting");
        assert_eq!(c.read_from(), 10);
        assert!(!c.settle(now + HOLE_WAIT), "given up");
        assert_eq!(c.read_from(), 13);
        assert!(!c.take(11), "too late now: it counts as seen");
    }
}
