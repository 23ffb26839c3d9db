//! Module registrations: the live registry entry, its copy in PostgreSQL
//! (each module's last `module_start`), and the presence broadcasts
//! (`module_started`, `module_stopped`).
//!
//! The original's 2021-01 client sends `module_start` once, at start-up;
//! after a reconnect it only signs requests. Its last registration is
//! therefore read back when such a connection authenticates and the module
//! is not running, so that it is listed again.

use super::connection::Connection;
use super::events::Event;
use super::registry::Registered;
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::modules;

/// Registers `name` for this connection (`module_start`) and records it;
/// `false` if another live connection holds the name.
pub fn start(s: &Connection, name: &str, port: u16, url: Option<String>) -> bool {
    let outcome = s.ctx.hub.register(name, port, url.clone(), s.peer.id);
    if outcome == Registered::Taken {
        return false;
    }
    let saved = s
        .ctx
        .db
        .conn()
        .and_then(|mut c| modules::save(&mut *c, name, port, url.as_deref(), unix_now()));
    if let Err(e) = saved {
        log::warn!("module '{name}': registration not stored: {e}");
    }
    if outcome != Registered::Same {
        log::info!("module '{name}' started on port {port}");
        let module = super::RunningModule {
            name: name.to_owned(),
            port,
            url,
        };
        s.ctx.hub.broadcast(Event::ModuleStarted {
            module,
            by: s.peer.id,
        });
    }
    true
}

/// For a connection authenticated as `name` that has not sent
/// `module_start`: brings back the module's last registration if it is not
/// running. `false` if the database could not answer (the next message
/// tries again).
pub fn restore(s: &Connection, name: &str) -> bool {
    if s.ctx.hub.is_running(name) {
        return true;
    }
    let found = match s
        .ctx
        .db
        .conn()
        .and_then(|mut c| modules::find(&mut *c, name))
    {
        Ok(found) => found,
        Err(e) => {
            log::warn!("module '{name}': last registration not read: {e}");
            return false;
        }
    };
    let Some(last) = found else { return true };
    let outcome = s
        .ctx
        .hub
        .register(name, last.port, last.url.clone(), s.peer.id);
    if outcome == Registered::New {
        log::info!(
            "module '{name}' is running again on port {} (its last module_start)",
            last.port
        );
        let module = super::RunningModule {
            name: name.to_owned(),
            port: last.port,
            url: last.url,
        };
        s.ctx.hub.broadcast(Event::ModuleStarted {
            module,
            by: s.peer.id,
        });
    }
    true
}

/// At the end of connection `peer`: its registrations end, and modules hear
/// of it.
pub fn release(ctx: &Ctx, peer: u64) {
    let gone = ctx.hub.release(peer);
    for m in gone {
        log::info!("module '{}' stopped", m.name);
        ctx.hub.broadcast(Event::ModuleStopped(m));
    }
}
