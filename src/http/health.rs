//! Health endpoints for load balancers, systemd and monitors: cheap,
//! unauthenticated, and revealing nothing (no versions, no counts). Their
//! access lines are debug-level (`routes::is_quiet`): a probe every few
//! seconds would drown the log.

use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use crate::ctx::Ctx;
use crate::db::NotReady;
use serde_json::json;
use std::time::Duration;

/// How long `/readyz` waits for PostgreSQL: it must answer within a second
/// even when the database hangs.
const READY_WAIT: Duration = Duration::from_millis(700);

/// `GET /healthz`: the process runs and answers HTTP.
pub fn healthz(_: &Ctx, _: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::ok(json!({"status": "ok"})))
}

/// `GET /health`, as the original platform answered it: alive, whatever
/// the database does.
pub fn health(_: &Ctx, _: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::ok(json!({"status": 200, "success": true})))
}

/// `GET /readyz`: listening, and PostgreSQL answers a statement in time.
pub fn readyz(ctx: &Ctx, _: &Req) -> Result<Reply, ApiError> {
    match ctx.db.ready_within(READY_WAIT) {
        Ok(()) => Ok(Reply::ok(json!({"status": "ready"}))),
        Err(NotReady::Unavailable) => {
            Err(ApiError::new(503, "database_unavailable").retry_after(1))
        }
        Err(NotReady::Timeout) => Err(ApiError::new(503, "database_timeout").retry_after(1)),
    }
}
