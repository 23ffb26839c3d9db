//! The hub side of the soak: module identities with keys in the platform's
//! verify_keys.json, connecting (signed `module_start`, protocol 2, through
//! the library's `ModuleClient`), hearing the broadcasts of the logins and
//! registrations, and leaving, in waves, again and again.

use super::load::{add, Load};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use serde_json::{Map, Value};
use sse_platform::module_client::{ModuleClient, Options};
use std::time::Duration;

/// How long a wave stays connected, and the pause between waves.
const HOLD: Duration = Duration::from_secs(4);
const BETWEEN: Duration = Duration::from_secs(1);

pub struct Identity {
    pub name: String,
    /// Base64 of the 32-byte seed, as `signing_key.key` holds it.
    pub seed: String,
}

/// `count` fresh identities and the verify_keys.json that names them.
pub fn identities(count: usize) -> Result<(Vec<Identity>, String), getrandom::Error> {
    let mut keys = Map::new();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let name = format!("soak{i:03}");
        keys.insert(name.clone(), Value::String(STANDARD.encode(public)));
        out.push(Identity {
            name,
            seed: STANDARD.encode(seed),
        });
    }
    Ok((out, Value::Object(keys).to_string()))
}

/// One group of modules: all connect, stay `HOLD` while their broadcasts
/// are counted, leave, and start again after `BETWEEN`.
pub fn wave(load: &Load, group: &[Identity], ca_pem: &[u8], first_port: u16) {
    while !load.stopped() {
        let mut connected = Vec::with_capacity(group.len());
        for (i, identity) in group.iter().enumerate() {
            if load.stopped() {
                break;
            }
            let mut options = Options::new(
                &format!("wss://localhost:{}/websocket", load.port),
                &identity.name,
                &identity.seed,
                first_port + i as u16,
            );
            options.ca_pem = Some(ca_pem.to_vec());
            options.timeout = Duration::from_secs(10);
            match ModuleClient::connect(options) {
                Ok(client) => {
                    add(&load.counts.module_starts);
                    connected.push(client);
                }
                Err(_) => add(&load.counts.module_failures),
            }
        }
        load.pause(HOLD);
        for client in &connected {
            while client.events().try_recv().is_ok() {
                add(&load.counts.module_events);
            }
        }
        // Dropping a client closes its connection: the module leaves.
        drop(connected);
        load.pause(BETWEEN);
    }
}
