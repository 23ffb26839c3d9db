//! The worker pools: `http-N` take requests from tiny_http and run fast
//! handlers; `hash-N` and `hash-prompt` run the bcrypt ones and `out-N`
//! those that wait on the OpenID provider, each fed by its lane's queue.

use super::dispatch::{dispatch, run, Job, SlowLanes};
use super::lane::FairQueue;
use super::request::Req;
use super::respond::respond;
use crate::ctx::Ctx;
use crate::logger;
use crate::net::response::request_id;
use std::sync::Arc;
use std::time::Instant;

/// Starts every pool on `server`.
pub fn start(server: Arc<tiny_http::Server>, ctx: Arc<Ctx>) -> std::io::Result<()> {
    let per_address = ctx.config.lanes.queue_per_address;
    let lanes = Arc::new(SlowLanes {
        hashing: FairQueue::new(ctx.config.hash_queue, per_address)
            .reported_as(&crate::metrics::METRICS.hash_queue),
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
    Ok(())
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name(name).spawn(f).map(drop)
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
        let id = request_id();
        let _scope = logger::scope("request_id", id.clone());
        // The bridge has received the whole body, so this never waits on
        // the network.
        match Req::from_tiny(&mut rq, ctx.config.max_body_bytes) {
            Ok(req) => dispatch(
                ctx,
                lanes,
                Job {
                    rq,
                    req,
                    started,
                    id,
                },
            ),
            Err(e) => respond(rq, e.into(), started, "-".into(), &id),
        }
    }
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
