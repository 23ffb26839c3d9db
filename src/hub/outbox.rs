//! Hub events between processes: what one process broadcasts, or sends to
//! a module connected to another, goes through the `hub_events` outbox;
//! each process delivers what it reads there to its own connections.
//!
//! The process that publishes delivers to its own connections at once and
//! skips its rows when it reads them back; the others read every row after
//! the last they saw, so nothing is lost while their listening connection
//! was down (`db-listen` reads on from there after reconnecting).
//!
//! A payload holds what modules hear, tokens included, so it is sealed
//! (`auth::sealing`, a key derived from `cookie_secret`, bound to the
//! publishing process and the target): whoever can read the table but not
//! the config learns nothing, and a row cannot be redirected.

use super::outbox_codec::{decode, encode};
use super::shared::Shared;
use super::{Event, Hub};
use crate::auth::sealing;
use crate::clock::unix_now;
use crate::db::cluster::{self, OutboxRow};
use base64::{engine::general_purpose::STANDARD, Engine};

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
        let sealed = match sealing::seal(
            &shared.outbox_key,
            &binding(shared.process, target),
            payload.as_bytes(),
        ) {
            Ok(sealed) => STANDARD.encode(sealed),
            Err(e) => {
                log::warn!("hub event not passed to other processes: {e}");
                return false;
            }
        };
        let published = shared.db.conn().and_then(|mut c| {
            cluster::publish(&mut *c, shared.process, target, &sealed, unix_now())
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
            let Some(payload) = unseal(shared, &row) else {
                log::warn!(
                    "hub event {} from process {} does not open (another cookie_secret?)",
                    row.id,
                    row.origin
                );
                continue;
            };
            match row.target {
                Some(module) => {
                    self.peers.send_to(&module, payload);
                }
                None => match serde_json::from_str(&payload).ok().and_then(|v| decode(&v)) {
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

/// What a sealed payload is bound to: its publisher and its target.
fn binding(origin: i32, target: Option<&str>) -> Vec<u8> {
    let mut bound = origin.to_be_bytes().to_vec();
    if let Some(module) = target {
        bound.push(b':');
        bound.extend_from_slice(module.as_bytes());
    }
    bound
}

fn unseal(shared: &Shared, row: &OutboxRow) -> Option<String> {
    let sealed = STANDARD.decode(&row.payload).ok()?;
    let bound = binding(row.origin, row.target.as_deref());
    let plain = sealing::open(&shared.outbox_key, &bound, &sealed)?;
    String::from_utf8(plain).ok()
}
