//! Turning a `Reply` into tiny_http's response, and the access log line.

use super::dispatch::Job;
use super::reply::Reply;
use super::request::Method;
use super::routes;
use crate::metrics::METRICS;
use std::io::Cursor;
use std::time::Instant;

pub(super) fn finish(job: Job, reply: Reply) {
    let client = job.req.client();
    respond(job.rq, reply, job.started, client, &job.id);
}

/// Answers and writes the access line, which shows only what the route
/// table knows of the method and path (see `routes::loggable`).
pub(super) fn respond(
    rq: tiny_http::Request,
    reply: Reply,
    started: Instant,
    client: String,
    id: &str,
) {
    let method = Method::from(rq.method());
    let url_path = rq.url().split('?').next().unwrap_or("");
    let slot = routes::metric_slot(method, url_path);
    let path = routes::loggable(url_path);
    let method = method_word(method);
    let status = reply.status;
    if let Err(e) = rq.respond(to_response(reply, id)) {
        log::debug!("answer not delivered: {e}");
    }
    let took = started.elapsed();
    METRICS.requests.count(slot, status);
    METRICS.request_seconds.observe(took);
    let ms = took.as_secs_f64() * 1000.0;
    let rounded = (ms * 10.0).round() / 10.0;
    // Health checks come every few seconds: their lines would drown the rest.
    let level = if routes::is_quiet(&path) {
        log::Level::Debug
    } else {
        log::Level::Info
    };
    log::log!(
        level,
        method = method, route = path.as_str(), status = status, ms = rounded, client = client.as_str();
        "{method} {path} {status} {ms:.1}ms {client}"
    );
}

/// A method for the log: a client may send any word as one.
pub(super) fn method_word(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Other => "OTHER",
    }
}

fn to_response(
    reply: Reply,
    id: &str,
) -> tiny_http::Response<Cursor<std::borrow::Cow<'static, [u8]>>> {
    let mut headers = vec![
        header("Content-Type", reply.content_type),
        header("X-Request-Id", id),
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
