//! The module hub: WebSocket sessions of modules (`session`), the running
//! module registry, and broadcasts to authenticated modules.

mod events;
mod registry;
pub mod session;

pub use events::Event;
pub use registry::RunningModule;

use crate::sync::lock;
use registry::Registry;
use std::sync::Mutex;

pub struct Hub {
    registry: Mutex<Registry>,
    peers: session::Peers,
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            registry: Mutex::new(Registry::default()),
            peers: session::Peers::default(),
        }
    }

    /// Sends `event` to every authenticated module connection.
    pub fn broadcast(&self, event: &Event) {
        self.peers.broadcast(&event.to_json());
    }

    pub fn running_modules(&self) -> Vec<RunningModule> {
        lock(&self.registry).list()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}
