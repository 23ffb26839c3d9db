//! The module hub: modules' WebSocket connections (`connection`), their signed
//! envelopes (`envelope`, `keys`, `replay`), the requests they may make
//! (`handlers`), the running modules (`registry`, kept across reconnects by
//! `registrations`), the open connections (`peers`) and what each is told
//! unasked (`events`).

pub mod connection;
/// Pub, with `keys` and `replay`, for fuzz/entries.rs.
pub mod envelope;
mod events;
mod handlers;
pub mod keys;
mod origin;
mod outbox;
mod outbox_codec;
mod outbox_cursor;
mod peers;
mod registrations;
mod registry;
pub mod replay;
mod shared;
mod templates;
mod token_ttl;

pub use events::Event;
pub use outbox_cursor::OutboxCursor;
pub use registry::RunningModule;
pub use replay::WINDOW as REPLAY_WINDOW;

use crate::auth::ended::{EndListener, Ended};
use crate::config::{Config, ModulePermissions};
use crate::db::Db;
use crate::listener::slots::{PerAddress, Slot, Slots};
use crate::lock::lock;
use keys::Keys;
use peers::Peers;
use registry::Registry;
use replay::ReplayGuard;
use serde_json::{json, Map, Value};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the key file's modification time is checked.
const KEY_POLL: Duration = Duration::from_secs(1);

/// Counts of the hub's connections and modules at one moment.
pub struct HubGauges {
    /// Connections signed in as a module.
    pub signed: usize,
    /// Connections that have not signed a valid envelope yet.
    pub unauthenticated: usize,
    /// Distinct modules signed in.
    pub modules: usize,
    /// Modules in the registry (`GET /execution/running`).
    pub running: usize,
}

pub struct Hub {
    registry: Mutex<Registry>,
    peers: Peers,
    keys: Keys,
    replay: ReplayGuard,
    /// Module connections that have not signed a valid envelope yet.
    unauthenticated: Arc<Slots>,
    permissions: ModulePermissions,
    /// The other processes' view: `None` in `check-config`.
    shared: Option<shared::Shared>,
}

impl Hub {
    pub fn new(config: &Config) -> Result<Hub, keys::KeysError> {
        Ok(Hub {
            registry: Mutex::new(Registry::default()),
            peers: Peers::default(),
            keys: Keys::load(&config.verify_keys)?,
            replay: ReplayGuard::new(config.hub.replay_capacity),
            unauthenticated: Slots::new(
                config.hub.max_unauthenticated,
                config.hub.max_unauthenticated,
            ),
            permissions: config.module_permissions.clone(),
            shared: None,
        })
    }

    /// Shares the registry and the replay memory through `db` as process
    /// `process` of `platform_processes`.
    pub fn shared_with(mut self, db: Arc<Db>, process: i32, outbox_key: [u8; 32]) -> Hub {
        self.shared = Some(shared::Shared::new(db, process, outbox_key));
        self
    }

    /// A place among the unauthenticated module connections (at most
    /// `hub_max_unauthenticated`), held until the first valid envelope.
    /// When all are taken, the oldest of the address holding the most is
    /// closed: connections that sign nothing must not keep a module that
    /// signs at once from connecting. `None` only if none can be closed.
    pub fn admit_unauthenticated(&self, ip: IpAddr, socket: Arc<TcpStream>) -> Option<Slot> {
        Slots::acquire(&self.unauthenticated, ip, PerAddress::Uncapped, socket)
    }

    /// What `/metrics` shows of the hub now.
    pub fn gauges(&self) -> HubGauges {
        let (signed, modules) = self.peers.signed();
        HubGauges {
            signed,
            unauthenticated: self.unauthenticated.open(),
            modules,
            running: lock(&self.registry).list().len(),
        }
    }

    /// `{"platform": {"port": 8888}, "<module>": {"port": P[, "url": U]}}`,
    /// as `GET /execution/running` and `get_running_modules` answer it.
    pub fn running_json(&self, platform_port: u16) -> Value {
        let mut map = Map::new();
        map.insert("platform".into(), json!({"port": platform_port}));
        for m in self.running_modules() {
            let mut entry = json!({"port": m.port});
            if let Some(url) = m.url {
                entry["url"] = Value::String(url);
            }
            map.insert(m.name, entry);
        }
        Value::Object(map)
    }

    /// The platform is stopping: every module connection closes with 1001
    /// (going away), so its client reconnects to the next run at once.
    pub fn go_away(&self) {
        self.peers.go_away();
    }

    /// Re-reads verify_keys.json and disconnects modules whose key went
    /// away.
    pub fn reload_keys(&self) {
        self.disconnect(self.keys.reload());
    }

    /// The same, only when the file changed since it was last read.
    pub fn reload_keys_if_changed(&self) {
        self.disconnect(self.keys.reload_if_changed());
    }

    fn disconnect(&self, gone: Vec<String>) {
        if !gone.is_empty() {
            self.peers.kick_modules(&gone);
        }
    }

    /// Watches verify_keys.json: polls its modification time, and reloads on
    /// SIGHUP too.
    pub fn watch_keys(hub: Arc<Hub>) -> std::io::Result<()> {
        let polled = hub.clone();
        std::thread::Builder::new()
            .name("keys-poll".into())
            .spawn(move || loop {
                std::thread::sleep(KEY_POLL);
                polled.reload_keys_if_changed();
            })?;
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
        std::thread::Builder::new()
            .name("keys-sighup".into())
            .spawn(move || {
                for _ in signals.forever() {
                    log::info!("SIGHUP, reloading module keys");
                    hub.reload_keys();
                }
            })?;
        Ok(())
    }
}

/// The session store reports every ended session here.
impl EndListener for Hub {
    fn session_ended(&self, ended: Ended) {
        self.broadcast(Event::SessionEnded(ended));
    }

    fn session_ended_here(&self, ended: Ended) {
        self.broadcast_here(Event::SessionEnded(ended));
    }
}
