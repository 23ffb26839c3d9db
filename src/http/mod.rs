//! The HTTP side: tiny_http parses and answers requests that the listener
//! bridges to it over a private Unix socket; a pool of worker threads runs
//! handlers, a smaller pool runs the password-hashing ones.
//!
//! Handlers are plain functions `fn(&Ctx, &Req) -> Result<Reply, ApiError>`
//! (see `routes`). Only this module imports tiny_http.

mod accounts;
mod admin;
/// The running-modules JSON, shared with the hub's `get_running_modules`.
pub mod admin_json {
    pub use super::admin::running_modules;
}
pub mod error;
mod google;
mod pages;
mod params;
mod reply;
pub mod request;
mod reset;
mod routes;
mod session;
mod validate;

use crate::ctx::Ctx;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use error::ApiError;
use reply::Reply;
use request::Req;
use routes::Lane;
use std::io::Cursor;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The running HTTP side; its socket lives in a private folder that is
/// removed when this is dropped.
pub struct Backend {
    pub socket: Arc<Path>,
    dir: PathBuf,
}

impl Backend {
    /// The private folder holding the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Binds tiny_http to a new private socket and starts the worker pools.
pub fn start(ctx: Arc<Ctx>) -> std::io::Result<Backend> {
    let suffix: [u8; 8] = crate::auth::token::random_bytes().map_err(std::io::Error::other)?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    remove_stale_sockets();
    let dir = std::env::temp_dir().join(format!(
        "{SOCKET_DIR_PREFIX}{}-{suffix}",
        std::process::id()
    ));
    // Only we may connect: the bridge's peer header is trusted.
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let socket: Arc<Path> = dir.join("http.sock").into();
    let listener = UnixListener::bind(&socket)?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
    let server = Arc::new(server);
    let (hashing_tx, hashing_rx) = crossbeam_channel::bounded(ctx.config.hash_queue);
    for i in 0..ctx.config.worker_threads {
        let (server, ctx, tx) = (server.clone(), ctx.clone(), hashing_tx.clone());
        spawn(format!("http-{i}"), move || worker(&server, &ctx, &tx))?;
    }
    for i in 0..ctx.config.hash_threads {
        let (ctx, rx) = (ctx.clone(), hashing_rx.clone());
        spawn(format!("hash-{i}"), move || hasher(&ctx, &rx))?;
    }
    Ok(Backend { socket, dir })
}

/// Private socket folders are named `<prefix><pid>-<random>`.
const SOCKET_DIR_PREFIX: &str = "sse-platform-";

/// Removes socket folders of platform processes that no longer run (killed
/// with SIGKILL, say, which leaves no chance to clean up).
fn remove_stale_sockets() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SOCKET_DIR_PREFIX))
        else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive && entry.path().join("http.sock").exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name(name).spawn(f).map(drop)
}

fn worker(server: &tiny_http::Server, ctx: &Ctx, hashing: &Sender<tiny_http::Request>) {
    loop {
        let rq = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                log::error!("receive failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let method = request::Method::from(rq.method());
        let path = rq.url().split('?').next().unwrap_or("");
        if routes::lane(method, path) == Lane::Hashing {
            match hashing.try_send(rq) {
                Ok(()) => continue,
                Err(TrySendError::Full(rq) | TrySendError::Disconnected(rq)) => {
                    let busy = ApiError::new(503, "server_busy").retry_after(1);
                    respond(rq, busy.into(), Instant::now(), "-".into());
                    continue;
                }
            }
        }
        handle(ctx, rq);
    }
}

/// How much lower than the rest the hashing threads run (a nice value).
const HASHING_NICENESS: i32 = 5;

fn hasher(ctx: &Ctx, queue: &Receiver<tiny_http::Request>) {
    // On Linux the nice value is per thread: this lowers only this one, so
    // that while the CPU is short, logins wait rather than everything else.
    if let Err(e) = rustix::process::setpriority_process(None, HASHING_NICENESS) {
        log::debug!("cannot lower the hashing thread's priority: {e}");
    }
    for rq in queue {
        handle(ctx, rq);
    }
}

/// Parses, routes and answers one request. A panicking handler answers 500
/// and leaves this worker, and everything else, running.
fn handle(ctx: &Ctx, mut rq: tiny_http::Request) {
    let started = Instant::now();
    let (reply, client) = match Req::from_tiny(&mut rq, ctx.config.max_body_bytes) {
        Ok(req) => {
            let reply = catch_unwind(AssertUnwindSafe(|| routes::route(ctx, &req)));
            let reply = match reply {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => e.into(),
                Err(_) => {
                    log::error!("handler for {} panicked", req.path);
                    ApiError::internal().into()
                }
            };
            (reply, req.client())
        }
        Err(e) => (e.into(), "-".into()),
    };
    respond(rq, reply, started, client);
}

fn respond(rq: tiny_http::Request, reply: Reply, started: Instant, client: String) {
    let method = rq.method().to_string();
    let path = rq.url().split('?').next().unwrap_or("").to_owned();
    let status = reply.status;
    if let Err(e) = rq.respond(to_response(reply)) {
        log::debug!("answer not delivered: {e}");
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    log::info!("{method} {path} {status} {ms:.1}ms {client}");
}

fn to_response(reply: Reply) -> tiny_http::Response<Cursor<std::borrow::Cow<'static, [u8]>>> {
    let mut headers = vec![
        header("Content-Type", reply.content_type),
        header("X-Content-Type-Options", "nosniff"),
        header("Referrer-Policy", "same-origin"),
    ];
    headers.extend(reply.headers.iter().map(|(k, v)| header(k, v)));
    let len = reply.body.len();
    // Always a Content-Length, never chunked: the listener forwards the next
    // request of a connection only once it has seen this answer end.
    tiny_http::Response::new(
        tiny_http::StatusCode(reply.status),
        headers.into_iter().flatten().collect(),
        Cursor::new(reply.body),
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

/// A header; `None` for a value that is not valid in a header (dropped).
fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}
