//! From a received request to its handler: the lane the route table
//! names, the cheap admission checks on the fast lane, a full queue's 503,
//! and the panic guard around handler code.

use super::error::ApiError;
use super::lane::FairQueue;
use super::reply::Reply;
use super::request::Req;
use super::respond::finish;
use super::routes::{self, Lane};
use crate::ctx::Ctx;
use crate::logger;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// A request whose body has been read, on its way to a handler.
pub(super) struct Job {
    pub rq: tiny_http::Request,
    pub req: Req,
    pub started: Instant,
    /// The request's id (`X-Request-Id`, `request_id` in the log).
    pub id: String,
}

/// The queues of the lanes that do not run on the fast workers.
pub(super) struct SlowLanes {
    pub hashing: FairQueue<Job>,
    pub outbound: FairQueue<Job>,
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

/// Runs cheap checks here, then the handler here or in its lane's queue;
/// a full queue answers 503 at once, before the checks when it can (a
/// flood then costs not even those).
pub(super) fn dispatch(ctx: &Ctx, lanes: &SlowLanes, job: Job) {
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

/// Routes and answers one request (on a slow lane's thread too, so the
/// request's id goes on the lines written there).
pub(super) fn run(ctx: &Ctx, job: Job) {
    let _scope = logger::scope("request_id", job.id.clone());
    let reply = guarded(&job.req, || routes::route(ctx, &job.req)).unwrap_or_else(|r| r);
    finish(job, reply);
}

/// Runs handler code; an error becomes its answer, and a panic answers 500
/// and leaves this thread, and everything else, running.
fn guarded<T>(req: &Req, f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, Reply> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            e.log_cause(&routes::loggable(&req.path));
            Err(e.into())
        }
        Err(_) => {
            log::error!("handler for {} panicked", routes::loggable(&req.path));
            Err(ApiError::internal().into())
        }
    }
}
