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
mod caller;
pub mod error;
mod google;
mod lane;
mod pages;
mod params;
mod reply;
pub mod request;
mod reset;
mod routes;
mod templates;
mod validate;

use crate::ctx::Ctx;
use error::ApiError;
use lane::FairQueue;
use reply::Reply;
use request::{Method, Req};
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
    let per_address = ctx.config.lanes.queue_per_address;
    let lanes = Arc::new(SlowLanes {
        hashing: FairQueue::new(ctx.config.hash_queue, per_address),
        outbound: FairQueue::new(ctx.config.lanes.outbound_queue, per_address),
    });
    for i in 0..ctx.config.worker_threads {
        let (server, ctx, lanes) = (server.clone(), ctx.clone(), lanes.clone());
        spawn(format!("http-{i}"), move || worker(&server, &ctx, &lanes))?;
    }
    for i in 0..ctx.config.hash_threads {
        let (ctx, lanes) = (ctx.clone(), lanes.clone());
        spawn(format!("hash-{i}"), move || hasher(&ctx, &lanes.hashing))?;
    }
    let (prompt_ctx, prompt_lanes) = (ctx.clone(), lanes.clone());
    spawn("hash-prompt".into(), move || loop {
        prompt_lanes
            .hashing
            .serve_one_alone(|job| run(&prompt_ctx, job));
    })?;
    for i in 0..ctx.config.lanes.outbound_threads {
        let (ctx, lanes) = (ctx.clone(), lanes.clone());
        spawn(format!("out-{i}"), move || loop {
            lanes.outbound.serve_one(|job| run(&ctx, job));
        })?;
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

/// A request whose body has been read, on its way to a handler.
struct Job {
    rq: tiny_http::Request,
    req: Req,
    started: Instant,
}

/// The queues of the lanes that do not run on the fast workers.
struct SlowLanes {
    hashing: FairQueue<Job>,
    outbound: FairQueue<Job>,
}

impl SlowLanes {
    /// The queue of `lane`; `None` for the fast lane, which has none.
    fn queue(&self, lane: Lane) -> Option<&FairQueue<Job>> {
        match lane {
            Lane::Fast => None,
            Lane::Hashing => Some(&self.hashing),
            Lane::Outbound => Some(&self.outbound),
        }
    }
}

fn worker(server: &tiny_http::Server, ctx: &Ctx, lanes: &SlowLanes) {
    loop {
        let mut rq = match server.recv() {
            Ok(rq) => rq,
            Err(e) => {
                log::error!("receive failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let started = Instant::now();
        // The bridge has received the whole body, so this never waits on
        // the network.
        match Req::from_tiny(&mut rq, ctx.config.max_body_bytes) {
            Ok(req) => dispatch(ctx, lanes, Job { rq, req, started }),
            Err(e) => respond(rq, e.into(), started, "-".into()),
        }
    }
}

/// Runs cheap checks here, then the handler here or in its lane's queue;
/// a full queue answers 503 at once, before the checks when it can (a
/// flood then costs not even those).
fn dispatch(ctx: &Ctx, lanes: &SlowLanes, job: Job) {
    let client = job.req.client();
    let lane = routes::lane(job.req.method, &job.req.path);
    if lanes.queue(lane).is_some_and(|q| !q.has_room(&client)) {
        return finish(job, busy());
    }
    let lane = match guarded(&job.req, || routes::admit(ctx, &job.req, lane)) {
        Ok(lane) => lane,
        Err(reply) => return finish(job, reply),
    };
    let Some(queue) = lanes.queue(lane) else {
        return run(ctx, job);
    };
    if let Err((_, job)) = queue.push(&client, job) {
        finish(job, busy());
    }
}

fn busy() -> Reply {
    ApiError::new(503, "server_busy").retry_after(1).into()
}

/// How much lower than the rest the hashing threads run (a nice value).
const HASHING_NICENESS: i32 = 5;

/// Runs any hashing job at a lower priority. Beside these threads,
/// `hash-prompt` runs at the normal priority but takes only a lone job (the
/// one job of its address): a user logging in while another address floods
/// the lane, and the CPU with cheap refused requests, must not wait for a
/// thread that the flood's CPU use starves, while a login storm (many jobs
/// of one address) still leaves the CPU to everything else.
fn hasher(ctx: &Ctx, queue: &FairQueue<Job>) {
    // On Linux the nice value is per thread: this lowers only this one, so
    // that while the CPU is short, logins wait rather than everything else.
    if let Err(e) = rustix::process::setpriority_process(None, HASHING_NICENESS) {
        log::debug!("cannot lower the hashing thread's priority: {e}");
    }
    loop {
        queue.serve_one(|job| run(ctx, job));
    }
}

/// Routes and answers one request.
fn run(ctx: &Ctx, job: Job) {
    let reply = guarded(&job.req, || routes::route(ctx, &job.req)).unwrap_or_else(|r| r);
    finish(job, reply);
}

/// Runs handler code; an error becomes its answer, and a panic answers 500
/// and leaves this thread, and everything else, running.
fn guarded<T>(req: &Req, f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, Reply> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => {
            log::error!("handler for {} panicked", routes::loggable(&req.path));
            Err(ApiError::internal().into())
        }
    }
}

fn finish(job: Job, reply: Reply) {
    let client = job.req.client();
    respond(job.rq, reply, job.started, client);
}

/// Answers and writes the access line, which shows only what the route
/// table knows of the method and path (see `routes::loggable`).
fn respond(rq: tiny_http::Request, reply: Reply, started: Instant, client: String) {
    let method = method_word(Method::from(rq.method()));
    let path = routes::loggable(rq.url().split('?').next().unwrap_or(""));
    let status = reply.status;
    if let Err(e) = rq.respond(to_response(reply)) {
        log::debug!("answer not delivered: {e}");
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    log::info!("{method} {path} {status} {ms:.1}ms {client}");
}

/// A method for the log: a client may send any word as one.
fn method_word(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Other => "OTHER",
    }
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
