//! Changes to sessions and accounts announced with `pg_notify`, and the one
//! dedicated connection on which a server listens for them.
//!
//! A change is announced in the transaction that makes it, so it is heard
//! exactly when it commits. Payloads carry only ids (a user id, a session's
//! token hash as hex, which is what modules hear in `session_ended` too),
//! never a token: every database user can read NOTIFY payloads. Whoever
//! listens looks the rest up.

use super::cluster::{Process, Reaped};
use super::DbError;
use crate::config::PgConfig;
use postgres::fallible_iterator::FallibleIterator;
use postgres::GenericClient;
use std::time::Duration;

/// The channel every change goes on.
pub const CHANNEL: &str = "sse_platform_sessions";

/// One announced change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A session's row was deleted; `reason` is the protocol's reason word.
    SessionEnded {
        user_id: i32,
        token_hash: Vec<u8>,
        reason: String,
    },
    /// Every session of the user was ended (after a `SessionEnded` each).
    SessionsRevoked { user_id: i32 },
    /// The user's role changed (the listener reads the new one).
    RoleChanged { user_id: i32 },
    /// The account is gone (after a `SessionEnded` for each of its sessions).
    UserDeleted { user_id: i32 },
    /// A process's running modules changed (`running_modules`): the
    /// others read the list again when next asked.
    ModulesChanged { process: i32 },
    /// A hub event is in the outbox (`hub_events`) with this id.
    HubEvent { id: i64 },
    /// A session's row was deleted, by anyone (a trigger announces it):
    /// a cached copy must go. The end is reported by whoever ended it.
    SessionGone { user_id: i32, token_hash: Vec<u8> },
    /// A user's role changed (a trigger): cached sessions must be read
    /// again.
    UserChanged { user_id: i32 },
}

impl Change {
    /// The payload: a word and ids, space-separated.
    pub fn payload(&self) -> String {
        match self {
            Change::SessionEnded {
                user_id,
                token_hash,
                reason,
            } => format!(
                "session_ended {user_id} {} {reason}",
                crate::hex::encode(token_hash)
            ),
            Change::SessionsRevoked { user_id } => format!("sessions_revoked {user_id}"),
            Change::RoleChanged { user_id } => format!("role_changed {user_id}"),
            Change::UserDeleted { user_id } => format!("user_deleted {user_id}"),
            Change::ModulesChanged { process } => format!("modules_changed {process}"),
            Change::HubEvent { id } => format!("hub_event {id}"),
            Change::SessionGone {
                user_id,
                token_hash,
            } => format!("session_gone {user_id} {}", crate::hex::encode(token_hash)),
            Change::UserChanged { user_id } => format!("user_changed {user_id}"),
        }
    }

    /// Reads a payload; `None` for anything this version does not know.
    pub fn parse(payload: &str) -> Option<Change> {
        let mut words = payload.split(' ');
        let kind = words.next()?;
        if kind == "hub_event" {
            let id = words.next()?.parse().ok()?;
            return words.next().is_none().then_some(Change::HubEvent { id });
        }
        // The first number: a user id, or a process id for modules_changed.
        let user_id: i32 = words.next()?.parse().ok()?;
        let change = match kind {
            "session_ended" => Change::SessionEnded {
                user_id,
                token_hash: crate::hex::decode(words.next()?)?,
                reason: words.next()?.to_owned(),
            },
            "sessions_revoked" => Change::SessionsRevoked { user_id },
            "role_changed" => Change::RoleChanged { user_id },
            "user_deleted" => Change::UserDeleted { user_id },
            "modules_changed" => Change::ModulesChanged { process: user_id },
            "session_gone" => Change::SessionGone {
                user_id,
                token_hash: crate::hex::decode(words.next()?)?,
            },
            "user_changed" => Change::UserChanged { user_id },
            _ => return None,
        };
        words.next().is_none().then_some(change)
    }
}

/// Announces `change`; call it inside the transaction that makes it.
pub fn announce(c: &mut impl GenericClient, change: &Change) -> Result<(), DbError> {
    c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &change.payload()])?;
    Ok(())
}

/// The listening connection, outside the pool (a pooled one would stop
/// hearing when the pool closes it).
pub struct Listener {
    client: postgres::Client,
}

impl Listener {
    /// Connects and starts listening: whatever commits after this returns
    /// is heard.
    /// It also declares `process` alive for as long as it stays open
    /// (`cluster::declare_alive`).
    pub fn connect(cfg: &PgConfig, process: &Process) -> Result<Listener, DbError> {
        let mut client = super::pg_config(cfg, "sse-platform-listen").connect(postgres::NoTls)?;
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        super::cluster::declare_alive(&mut client, process)?;
        Ok(Listener { client })
    }

    /// The connection itself, for the statements of `db::cluster` that
    /// run on it (reading the outbox needs no pooled connection).
    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }

    /// Deletes the processes that died and their modules (on this
    /// connection: it needs no pooled one); returns the modules.
    pub fn reap_dead(
        &mut self,
        me: &super::cluster::Process,
        now: i64,
        runs_here: impl Fn(u32) -> bool,
    ) -> Result<Vec<Reaped>, DbError> {
        super::cluster::reap_dead(&mut self.client, me, now, runs_here)
    }

    /// The next change, waiting at most `wait`; `Ok(None)` if none came
    /// (the connection was checked then). An error means the connection
    /// is lost: changes may have been missed.
    pub fn next(&mut self, wait: Duration) -> Result<Option<Change>, DbError> {
        loop {
            let heard = self.client.notifications().timeout_iter(wait).next()?;
            let Some(n) = heard else {
                self.client.is_valid(Duration::from_secs(5))?;
                return Ok(None);
            };
            if n.channel() != CHANNEL {
                continue;
            }
            match Change::parse(n.payload()) {
                Some(change) => return Ok(Some(change)),
                None => log::warn!("ignored an unknown change: {}", n.payload()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn payloads_read_back_as_written() {
        let changes = [
            Change::SessionEnded {
                user_id: 7,
                token_hash: vec![0xab; 32],
                reason: "logout".into(),
            },
            Change::SessionsRevoked { user_id: 1 },
            Change::RoleChanged { user_id: -3 },
            Change::UserDeleted { user_id: 42 },
            Change::ModulesChanged { process: 3 },
            Change::HubEvent { id: 1 << 40 },
            Change::SessionGone {
                user_id: 9,
                token_hash: vec![0x0f; 32],
            },
            Change::UserChanged { user_id: 9 },
        ];
        for change in changes {
            assert_eq!(Change::parse(&change.payload()), Some(change));
        }
        for junk in [
            "",
            "role_changed",
            "role_changed x",
            "role_changed 1 2",
            "other 1",
        ] {
            assert_eq!(Change::parse(junk), None, "{junk:?}");
        }
    }
}
