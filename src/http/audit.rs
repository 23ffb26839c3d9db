//! `GET /audit` (admin): the audit trail, newest first, a page at a time.
//! Paging is by event id (`before`), not by offset, so that entries written
//! while an admin pages do not shift the pages.

use super::caller::admin_for;
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use crate::ctx::Ctx;
use crate::db::audit::{self, Filter, Stored};
use serde_json::{json, Value};

/// Entries per page when the request names no `limit`.
const DEFAULT_LIMIT: i64 = 100;

/// GET /audit (admin): `limit` (1 to `audit_page_max`), `before` (an
/// event id), `actor` and `action` (exact matches).
pub fn list(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    admin_for(ctx, req, "audit_read")?;
    let filter = filter(ctx, req)?;
    let events = audit::list(&mut *ctx.db.conn()?, &filter)?;
    let list: Vec<Value> = events.iter().map(event_json).collect();
    Ok(Reply::ok(
        json!({"status": 200, "success": true, "events": list}),
    ))
}

fn filter(ctx: &Ctx, req: &Req) -> Result<Filter, ApiError> {
    let max = i64::from(ctx.config.audit_page_max);
    let limit = match given(req, "limit") {
        None => DEFAULT_LIMIT.min(max),
        Some(text) => number(text)
            .filter(|n| (1..=max).contains(n))
            .ok_or(ApiError::bad_request("invalid_limit"))?,
    };
    let before = match given(req, "before") {
        None => None,
        Some(text) => Some(number(text).ok_or(ApiError::bad_request("invalid_before"))?),
    };
    Ok(Filter {
        limit,
        before,
        actor: given(req, "actor").map(str::to_owned),
        action: given(req, "action").map(str::to_owned),
    })
}

/// A parameter that is present and not empty (an empty filter field of the
/// page means "any").
fn given<'r>(req: &'r Req, name: &str) -> Option<&'r str> {
    req.param(name).filter(|v| !v.is_empty())
}

/// A decimal number of digits only (no sign, no spaces), that fits.
fn number(text: &str) -> Option<i64> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn event_json(s: &Stored) -> Value {
    let e = &s.event;
    json!({
        "id": s.id,
        "at_ms": e.at_ms,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "address": e.address,
        "outcome": e.outcome,
    })
}
