//! Hub events between processes: what one process broadcasts, or sends to
//! a module connected to another, goes through the `hub_events` outbox;
//! each process delivers what it reads there to its own connections.
//!
//! The process that publishes delivers to its own connections at once and
//! skips its rows when it reads them back; the others read every row after
//! the last they saw, so nothing is lost while their listening connection
//! was down (`db-listen` reads on from there after reconnecting).

use super::outbox_codec::{decode, encode};
use super::{Event, Hub};
use crate::clock::unix_now;
use crate::db::cluster::{self, OutboxRow};

impl Hub {
    /// Tells every connection of every process of `event`, each in its
    /// own way (or holds it for one not signed in yet).
    pub fn broadcast(&self, event: Event) {
        self.publish(None, &encode(&event).to_string());
        self.broadcast_here(event);
    }

    /// Tells this process's connections only: for changes every process
    /// hears by itself (those the admin command line announces).
    pub fn broadcast_here(&self, event: Event) {
        self.peers.broadcast(event, &self.permissions);
    }

    /// Sends `text` to `module` if another process has it; `false` if no
    /// process does (or the database cannot say).
    pub(super) fn send_elsewhere(&self, module: &str, text: &str) -> bool {
        if self.shared.is_none() || !self.is_running(module) {
            return false;
        }
        self.publish(Some(module), text)
    }

    fn publish(&self, target: Option<&str>, payload: &str) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        let published = shared.db.conn().and_then(|mut c| {
            cluster::publish(&mut *c, shared.process, target, payload, unix_now())
        });
        match published {
            Ok(()) => true,
            Err(e) => {
                log::warn!("hub event not passed to other processes: {e}");
                false
            }
        }
    }

    /// Delivers what other processes published to this one's connections.
    pub fn deliver_published(&self, rows: Vec<OutboxRow>) {
        let Some(shared) = &self.shared else { return };
        for row in rows.into_iter().filter(|r| r.origin != shared.process) {
            match row.target {
                Some(module) => {
                    self.peers.send_to(&module, row.payload);
                }
                None => match serde_json::from_str(&row.payload)
                    .ok()
                    .and_then(|v| decode(&v))
                {
                    Some(event) => self.broadcast_here(event),
                    None => log::warn!(
                        "hub event {} from process {} not understood",
                        row.id,
                        row.origin
                    ),
                },
            }
        }
    }
}
