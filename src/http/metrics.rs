//! GET /metrics: the Prometheus text page, for administrators or for a
//! client on this machine (a scraper on loopback needs no session). Behind
//! a proxy on loopback, `trusted_proxies` must name it, so that its
//! clients are seen by their own address.

use super::caller::authenticate_admin;
use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::respond::method_word;
use super::routes;
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::sessions;
use crate::metrics::text::{Page, CONTENT_TYPE};
use crate::metrics::METRICS;

pub fn metrics(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let loopback = req.peer.is_some_and(|p| p.ip().is_loopback());
    if !loopback && authenticate_admin(ctx, req).is_err() {
        return Err(ApiError::new(403, "forbidden"));
    }
    let mut page = Page::default();
    requests(&mut page);
    connections(ctx, &mut page);
    accounts(ctx, &mut page);
    database(ctx, &mut page);
    hub_and_mail(&mut page);
    let mut reply = Reply::page(page.into_string().into_bytes().into());
    reply.content_type = CONTENT_TYPE;
    Ok(reply.with_header("Cache-Control", "no-store".into()))
}

fn requests(page: &mut Page) {
    let name = "sse_http_requests_total";
    page.family(
        name,
        "counter",
        "HTTP requests answered, by route and status.",
    );
    for (slot, status, count) in METRICS.requests.nonzero() {
        let Some((method, route)) = routes::metric_labels(slot) else {
            continue;
        };
        let method = method.map_or("-", method_word);
        let status = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
        let labels = [("method", method), ("route", &route), ("status", &status)];
        page.sample(name, &labels, count as f64);
    }
    page.histogram(
        "sse_http_request_duration_seconds",
        "Time from a request's arrival at a worker to its answer.",
        &METRICS.request_seconds,
    );
}

fn connections(ctx: &Ctx, page: &mut Page) {
    let hub = ctx.hub.gauges();
    let name = "sse_connections_open";
    page.family(name, "gauge", "Open client connections by kind.");
    let http = METRICS.http_connections.get() as f64;
    page.sample(name, &[("kind", "http")], http);
    page.sample(name, &[("kind", "module")], hub.signed as f64);
    let unsigned = hub.unauthenticated as f64;
    page.sample(name, &[("kind", "unauthenticated_module")], unsigned);
    let help = "Distinct modules signed in.";
    page.single("sse_modules_connected", "gauge", help, hub.modules as f64);
    let help = "Modules registered as running.";
    page.single("sse_modules_running", "gauge", help, hub.running as f64);
}

fn accounts(ctx: &Ctx, page: &mut Page) {
    let name = "sse_logins_total";
    page.family(
        name,
        "counter",
        "Password checks of POST /login, by result.",
    );
    let ok = METRICS.logins_succeeded.get() as f64;
    page.sample(name, &[("result", "succeeded")], ok);
    let failed = METRICS.logins_failed.get() as f64;
    page.sample(name, &[("result", "failed")], failed);
    let name = "sse_limiter_refusals_total";
    page.family(
        name,
        "counter",
        "Requests refused by a rate or failure limit.",
    );
    let limiters = [
        &ctx.login_pair_failures,
        &ctx.account_failures,
        &ctx.address_failures,
        &ctx.register_per_address,
        &ctx.reset_per_email,
        &ctx.reset_per_address,
        &ctx.verify_per_email,
        &ctx.verify_per_address,
        &ctx.totp_failures,
    ];
    for l in limiters {
        page.sample(name, &[("limiter", l.name())], l.refusals() as f64);
    }
    let help = "Time of each bcrypt hash or verification.";
    page.histogram("sse_bcrypt_duration_seconds", help, &METRICS.bcrypt_seconds);
    let help = "Requests waiting in the hashing lane.";
    let queued = METRICS.hash_queue.get() as f64;
    page.single("sse_hash_queue_length", "gauge", help, queued);
}

fn database(ctx: &Ctx, page: &mut Page) {
    let (in_use, idle) = ctx.db.pool_state();
    let name = "sse_db_pool_connections";
    page.family(name, "gauge", "Database pool connections by state.");
    page.sample(name, &[("state", "in_use")], f64::from(in_use));
    page.sample(name, &[("state", "idle")], f64::from(idle));
    let help = "Pool checkouts that found no idle connection and waited.";
    let waits = METRICS.pool_waits.get() as f64;
    page.single("sse_db_pool_waits_total", "counter", help, waits);
    // Without the database the page still answers, without this family.
    let active = ctx
        .db
        .conn()
        .ok()
        .and_then(|mut c| sessions::count_active(&mut *c, unix_now()).ok());
    if let Some(active) = active {
        let help = "Sessions not expired.";
        page.single("sse_sessions_active", "gauge", help, active as f64);
    }
}

fn hub_and_mail(page: &mut Page) {
    let name = "sse_broadcasts_total";
    let help = "Broadcasts to module connections: queued, held for one not signed in, dropped.";
    page.family(name, "counter", help);
    let outcomes = [
        ("sent", &METRICS.broadcasts_sent),
        ("held", &METRICS.broadcasts_held),
        ("dropped", &METRICS.broadcasts_dropped),
    ];
    for (outcome, counter) in outcomes {
        page.sample(name, &[("outcome", outcome)], counter.get() as f64);
    }
    let name = "sse_mails_total";
    page.family(name, "counter", "Mail deliveries tried, by result.");
    page.sample(name, &[("result", "sent")], METRICS.mails_sent.get() as f64);
    let failed = METRICS.mails_failed.get() as f64;
    page.sample(name, &[("result", "failed")], failed);
    let name = "sse_audit_entries_total";
    page.family(name, "counter", "Audit trail entries, by result.");
    let written = METRICS.audit_written.get() as f64;
    page.sample(name, &[("result", "written")], written);
    let dropped = METRICS.audit_dropped.get() as f64;
    page.sample(name, &[("result", "dropped")], dropped);
}
