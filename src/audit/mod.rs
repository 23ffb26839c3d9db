//! The audit trail: who did what to whom, from where, and how it ended.
//!
//! Handlers and the hub call [`Audit::record`], which only queues the entry
//! (a login pays a channel send, not a database write); the `audit` thread
//! (`writer.rs`) writes queued entries in batches and, on a clean stop,
//! writes what is left before the process exits. The admin command line
//! writes its entries itself, in the transaction of its change
//! ([`write_now`]).
//!
//! What may go in: ids, module names, client addresses, snake_case words.
//! Never a password, token, reset phrase, TOTP secret or recovery code:
//! actions and outcomes are `&'static str`, so no typed input can become
//! one, and targets are built from ids by the caller.

mod writer;

pub use writer::Audit;

use crate::db::audit::Event;
use crate::db::DbError;
use postgres::GenericClient;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user, by id.
    User(i32),
    /// A module that proved its name with a signature.
    Module(String),
    /// The admin command line on the server's machine.
    Cli,
    /// The platform itself (expiry, the janitor).
    System,
    /// A client not (yet) known: a failed login, an unsigned connection.
    Anonymous,
}

impl Actor {
    /// The stored spelling, which `GET /audit?actor=` matches exactly.
    pub fn label(&self) -> String {
        match self {
            Actor::User(id) => format!("user:{id}"),
            Actor::Module(name) => format!("module:{name}"),
            Actor::Cli => "cli".to_owned(),
            Actor::System => "system".to_owned(),
            Actor::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// One thing that happened, built with [`Entry::new`] and the setters.
#[derive(Clone, Debug)]
pub struct Entry {
    at_ms: i64,
    actor: Actor,
    action: &'static str,
    target: Option<String>,
    address: Option<String>,
    outcome: &'static str,
}

/// The outcome of an entry nobody refused.
pub const OK: &str = "ok";

/// Targets and addresses longer than this are cut: they come from ids and
/// addresses, so only a bug makes them long, and a row stays small.
const MAX_FIELD: usize = 200;

impl Entry {
    /// `actor` did `action` (a snake_case word) just now, successfully
    /// unless [`Entry::refused`] says otherwise.
    pub fn new(actor: Actor, action: &'static str) -> Entry {
        Entry {
            at_ms: now_ms(),
            actor,
            action,
            target: None,
            address: None,
            outcome: OK,
        }
    }

    /// What the action was done to, e.g. `user:42` or `module:echo`.
    pub fn target(mut self, target: impl Into<String>) -> Entry {
        self.target = Some(cut(target.into()));
        self
    }

    /// The client address the action came from.
    pub fn address(mut self, address: impl Into<String>) -> Entry {
        self.address = Some(cut(address.into()));
        self
    }

    /// The action was refused, for `reason` (an API reason word).
    pub fn refused(mut self, reason: &'static str) -> Entry {
        self.outcome = reason;
        self
    }

    fn into_event(self) -> Event {
        Event {
            at_ms: self.at_ms,
            actor: cut(self.actor.label()),
            action: self.action.to_owned(),
            target: self.target,
            address: self.address,
            outcome: self.outcome.to_owned(),
        }
    }
}

/// Writes `entries` at once on `c`, e.g. inside the admin command line's
/// transaction, so the trail holds a change exactly when it committed.
pub fn write_now(c: &mut impl GenericClient, entries: Vec<Entry>) -> Result<(), DbError> {
    let events: Vec<Event> = entries.into_iter().map(Entry::into_event).collect();
    crate::db::audit::insert(c, &events).map(drop)
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_becomes_the_row_an_admin_reads() {
        let e = Entry::new(Actor::User(7), "session_ended")
            .target("user:9")
            .address("10.0.0.1")
            .refused("not_allowed")
            .into_event();
        assert_eq!(e.actor, "user:7");
        assert_eq!(e.action, "session_ended");
        assert_eq!(e.target.as_deref(), Some("user:9"));
        assert_eq!(e.address.as_deref(), Some("10.0.0.1"));
        assert_eq!(e.outcome, "not_allowed");
        assert!(e.at_ms > 1_700_000_000_000);
    }

    #[test]
    fn long_fields_are_cut_on_a_character_boundary() {
        let e = Entry::new(Actor::Module("é".repeat(150)), "module_authenticated").into_event();
        assert!(e.actor.len() <= MAX_FIELD && e.actor.starts_with("module:é"));
        assert_eq!(Entry::new(Actor::Cli, "x").into_event().outcome, OK);
    }
}
