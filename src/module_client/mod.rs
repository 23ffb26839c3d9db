//! A synchronous client for modules written in Rust, the counterpart of the
//! original Python `socket_client.py` + `token_cache_client.py`.
//!
//! ```no_run
//! use sse_platform::module_client::{ModuleClient, Options};
//! use std::time::Duration;
//! let client = ModuleClient::connect(Options {
//!     url: "wss://localhost:8888/websocket".into(),
//!     module: "hello".into(),
//!     signing_key: std::fs::read_to_string("signing_key.key").unwrap(),
//!     port: 8010,
//!     public_url: None,
//!     ca_pem: Some(std::fs::read("cert.pem").unwrap()),
//!     timeout: Duration::from_secs(5),
//!     revalidate_after: Options::REVALIDATE_AFTER,
//! }).unwrap();
//! let user = client.validate_token("token from the access_token cookie").unwrap();
//! ```
//!
//! A background thread owns the connection: it signs and sends requests,
//! matches replies by `resolve_id`, feeds the token cache from broadcasts,
//! passes every broadcast on to [`ModuleClient::events`], and reconnects
//! with backoff (sending `module_start` again) when the connection drops.
//!
//! It speaks protocol 2 (`"protocol": 2` in `module_start`), so that the
//! platform tells it of every end of a session (`session_ended`) and of each
//! session's absolute end (`session_expires`). No token outlives its session
//! in the cache: an entry goes at `session_expires`, at `session_ended`, at
//! the broadcasts of protocol 1, and with the whole cache at a reconnect
//! (messages may have been missed); one the platform has not confirmed for
//! [`Options::revalidate_after`] is asked about again. Cache updates happen
//! on the connection's thread in the order the platform sent them, so a
//! validation's reply can never undo a `session_ended` that followed it.

mod cache;
pub mod conn;
mod options;
mod replies;
mod sign;

pub use cache::{CachedUser, Now, TokenCache};
pub use conn::{Connection, Target};
pub use options::{ClientError, Options};
pub use sign::{uuid4, Signer};

use crate::lock::lock;
use crossbeam_channel::{Receiver, Sender};
use replies::{Effect, Pending};
use rustix::event::{eventfd, EventfdFlags};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The platform's sliding token lifetime, which the cache mirrors.
const TOKEN_TTL: Duration = Duration::from_secs(3600);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The protocol level this client speaks (`session_ended`, `session_expires`).
const PROTOCOL: u32 = 2;
/// Broadcasts kept for a caller that does not read [`ModuleClient::events`].
const EVENT_BUFFER: usize = 1024;

struct Shared {
    options: Options,
    signer: Signer,
    pending: Mutex<HashMap<String, Pending>>,
    outgoing: Mutex<VecDeque<String>>,
    wake: OwnedFd,
    /// `None` until the first `module_start` is answered.
    started: Mutex<Option<Result<(), ClientError>>>,
    started_cv: Condvar,
    connected: AtomicBool,
    stop: AtomicBool,
    cache: TokenCache,
    events: Sender<Value>,
}

pub struct ModuleClient {
    shared: Arc<Shared>,
    events: Receiver<Value>,
}

impl ModuleClient {
    /// Connects, registers with `module_start`, and returns once the
    /// platform has answered (or fails).
    pub fn connect(options: Options) -> Result<ModuleClient, ClientError> {
        let signer =
            Signer::new(&options.module, &options.signing_key).map_err(ClientError::Key)?;
        let wake = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let (events_tx, events) = crossbeam_channel::bounded(EVENT_BUFFER);
        let timeout = options.timeout;
        let revalidate_after = options.revalidate_after;
        let shared = Arc::new(Shared {
            options,
            signer,
            pending: Mutex::new(HashMap::new()),
            outgoing: Mutex::new(VecDeque::new()),
            wake,
            started: Mutex::new(None),
            started_cv: Condvar::new(),
            connected: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            cache: TokenCache::with_revalidation(TOKEN_TTL, revalidate_after),
            events: events_tx,
        });
        let runner = shared.clone();
        std::thread::Builder::new()
            .name("module-client".into())
            .spawn(move || run(&runner))
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let client = ModuleClient { shared, events };
        client.wait_started(timeout)?;
        Ok(client)
    }

    fn wait_started(&self, timeout: Duration) -> Result<(), ClientError> {
        let started = lock(&self.shared.started);
        let (started, _) = self
            .shared
            .started_cv
            .wait_timeout_while(started, timeout, |s| s.is_none())
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        started.clone().unwrap_or(Err(ClientError::Timeout))
    }

    /// Sends a signed request (`message` holds `type` and its fields) and
    /// waits for the reply with the same `resolve_id`.
    ///
    /// A `user_logout` drops its token from the cache when answered.
    pub fn request(&self, message: Value, timeout: Duration) -> Result<Value, ClientError> {
        let effect = match message.get("type").and_then(Value::as_str) {
            Some("user_logout") => message
                .get("access_token")
                .and_then(Value::as_str)
                .map(|t| Effect::Forget(t.to_owned())),
            _ => None,
        };
        self.request_with(message, timeout, effect)
    }

    fn request_with(
        &self,
        message: Value,
        timeout: Duration,
        effect: Option<Effect>,
    ) -> Result<Value, ClientError> {
        let Value::Object(inner) = message else {
            return Err(ClientError::Closed(
                "a request must be a JSON object".into(),
            ));
        };
        let resolve_id = uuid4();
        let (tx, rx) = crossbeam_channel::bounded(1);
        lock(&self.shared.pending).insert(resolve_id.clone(), Pending { tx, effect });
        self.shared
            .send(self.shared.signer.envelope(inner, &resolve_id));
        let reply = rx.recv_timeout(timeout);
        lock(&self.shared.pending).remove(&resolve_id);
        reply.map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => ClientError::Timeout,
            crossbeam_channel::RecvTimeoutError::Disconnected => {
                ClientError::Closed("connection lost".into())
            }
        })
    }

    /// The user behind a user's access token: from the cache when the
    /// platform announced or confirmed it recently, else by asking
    /// `token_validation` (whose answer is cached).
    pub fn validate_token(&self, token: &str) -> Result<Option<CachedUser>, ClientError> {
        if let Some(user) = self.shared.cache.get(token) {
            return Ok(Some(user));
        }
        let reply = self.request_with(
            json!({"type": "token_validation", "access_token": token}),
            self.shared.options.timeout,
            Some(Effect::Cache(token.to_owned())),
        )?;
        Ok(replies::validated_user(&reply).map(|(user, _)| user))
    }

    /// Every broadcast and forwarded message the platform sends.
    pub fn events(&self) -> &Receiver<Value> {
        &self.events
    }

    pub fn cache(&self) -> &TokenCache {
        &self.shared.cache
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }
}

impl Drop for ModuleClient {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.signal();
    }
}

impl Shared {
    fn send(&self, text: String) {
        lock(&self.outgoing).push_back(text);
        self.signal();
    }

    fn signal(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    fn set_started(&self, result: Result<(), ClientError>) {
        *lock(&self.started) = Some(result);
        self.started_cv.notify_all();
    }

    /// Delivers a frame: a reply to its waiter (after its effect on the
    /// cache), anything else to the cache and as an event.
    fn deliver(&self, text: &str) {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let id = value
            .get("resolve_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pending = lock(&self.pending).remove(id);
        if let Some(Pending { tx, effect }) = pending {
            if let Some(effect) = effect {
                effect.apply(&self.cache, &value);
            }
            let _ = tx.try_send(value);
            return;
        }
        self.cache.apply(&value);
        let _ = self.events.try_send(value);
    }
}

/// Connects, serves, and reconnects with backoff until the client is dropped.
fn run(shared: &Shared) {
    let mut backoff = Duration::from_millis(250);
    while !shared.stop.load(Ordering::SeqCst) {
        let target = Target {
            url: shared.options.url.clone(),
            ca_pem: shared.options.ca_pem.clone(),
            timeout: shared.options.timeout,
        };
        let hello =
            json!({"type": "module_socket_connect", "module": shared.options.module}).to_string();
        match Connection::open(&target, Some(&hello)) {
            Ok(conn) => {
                backoff = Duration::from_millis(250);
                // Whatever was said while we were away is lost: start empty.
                shared.cache.clear();
                shared.connected.store(true, Ordering::SeqCst);
                let why = serve(shared, conn);
                shared.connected.store(false, Ordering::SeqCst);
                // Waiters of lost requests learn it at once.
                lock(&shared.pending).clear();
                shared.cache.clear();
                log::warn!("module client: {why}");
            }
            Err(e) => {
                log::warn!("module client: {e}; retrying in {backoff:?}");
                if lock(&shared.started).is_none() {
                    shared.set_started(Err(e));
                }
            }
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How long to wait before asking `module_start` again after a refusal
/// (the platform may not have noticed yet that our old connection died).
const START_RETRY: Duration = Duration::from_secs(5);

/// One connection's life: register, then pump frames both ways.
fn serve(shared: &Shared, mut conn: Connection) -> ClientError {
    let mut start_id = uuid4();
    if let Err(e) = conn.write_text(module_start(shared, &start_id)) {
        return e;
    }
    let mut retry_start: Option<Instant> = None;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            conn.close();
            return ClientError::Closed("client dropped".into());
        }
        loop {
            match conn.try_recv() {
                Ok(Some(text)) if text.contains(&start_id) => {
                    if !on_start_reply(shared, &text) {
                        retry_start = Some(Instant::now() + START_RETRY);
                    }
                }
                Ok(Some(text)) => shared.deliver(&text),
                Ok(None) => break,
                Err(e) => return e,
            }
        }
        if retry_start.is_some_and(|at| Instant::now() >= at) {
            retry_start = None;
            start_id = uuid4();
            shared.send(module_start(shared, &start_id));
        }
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&shared.wake, &mut buf);
        let batch: Vec<String> = lock(&shared.outgoing).drain(..).collect();
        for text in batch {
            if let Err(e) = conn.write_text(text) {
                return e;
            }
        }
        if let Err(e) = conn.flush() {
            return e;
        }
        let deadline = retry_start.unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
        if let Err(e) = conn.wait(Some(&shared.wake), deadline) {
            return e;
        }
    }
}

fn module_start(shared: &Shared, resolve_id: &str) -> String {
    shared
        .signer
        .envelope(start_fields(&shared.options), resolve_id)
}

/// `module_start` with `"protocol": 2`, which asks the platform for
/// `session_ended` and `session_expires`.
fn start_fields(options: &Options) -> Map<String, Value> {
    let mut start = Map::new();
    start.insert("type".into(), "module_start".into());
    start.insert("module_name".into(), options.module.clone().into());
    start.insert("port".into(), options.port.into());
    start.insert("protocol".into(), PROTOCOL.into());
    if let Some(url) = &options.public_url {
        start.insert("url".into(), url.clone().into());
    }
    start
}

/// Records the answer to `module_start`; `false` if it was refused.
fn on_start_reply(shared: &Shared, text: &str) -> bool {
    let reply: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let result = if reply["success"] == Value::Bool(true) {
        log::info!("module client: registered as '{}'", shared.options.module);
        Ok(())
    } else {
        let reason = reply["reason"].as_str().unwrap_or("refused").to_owned();
        log::warn!("module client: module_start refused: {reason}");
        Err(ClientError::Refused(reason))
    };
    let accepted = result.is_ok();
    if lock(&shared.started).as_ref().is_none_or(|r| r.is_err()) {
        shared.set_started(result);
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_start_declares_protocol_2() {
        let mut o = Options::new("wss://localhost:8888/websocket", "hello", "key", 8010);
        let start = Value::Object(start_fields(&o));
        assert_eq!(
            start,
            json!({"type": "module_start", "module_name": "hello", "port": 8010, "protocol": 2})
        );
        o.public_url = Some("https://lab.example.org/hello".into());
        assert_eq!(start_fields(&o)["url"], "https://lab.example.org/hello");
    }
}
