//! The platform's answers written without tiny_http: the JSON error shape
//! (docs/protocol.md), which the HTTP layer's `ApiError` uses too, and the
//! complete error response the listener and the hub send to connections
//! that never reach tiny_http.

use super::poll;
use super::transport::Transport;
use serde_json::json;
use std::time::{Duration, Instant};

/// How long a refused connection's remaining bytes are read and dropped.
pub const LINGER: Duration = Duration::from_secs(2);

/// The JSON error shape; 401s suggest the login page, as the original did.
pub fn error_body(status: u16, reason: &str) -> String {
    let redirect: &[&str] = if status == 401 { &["/login"] } else { &[] };
    json!({
        "status": status,
        "reason": reason,
        "success": false,
        "redirect_suggestions": redirect,
    })
    .to_string()
}

pub fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A new request id: 16 random hex digits, sent as `X-Request-Id` with
/// every answer and logged as `request_id` with every line about it.
pub fn request_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Telling requests apart is all an id is for.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64).to_be_bytes();
    }
    format!("{:016x}", u64::from_be_bytes(bytes))
}

/// A complete HTTP/1.1 error response, for requests refused before they
/// reach tiny_http; the body is the platform's JSON error shape.
pub fn error_response(status: u16, reason: &str) -> Vec<u8> {
    let body = error_body(status, reason);
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Request-Id: {}\r\nConnection: close\r\n\r\n{body}",
        status_text(status),
        body.len(),
        request_id()
    )
    .into_bytes()
}

/// Sends a JSON error and closes, for connections that never reach tiny_http.
pub fn reply_and_close(mut client: Transport, status: u16, reason: &str) {
    client.queue(&error_response(status, reason));
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.wants_write() && Instant::now() < deadline {
        if client.flush().is_err() {
            break;
        }
        let mut fds = [poll::watch(client.socket(), false, true)];
        if poll::wait(&mut fds, Duration::from_millis(100)).is_err() {
            break;
        }
    }
    client.close_lingering(LINGER);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_16_hex_digits_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let answer = String::from_utf8(error_response(400, "malformed_request")).unwrap();
        assert!(answer.contains("\r\nX-Request-Id: "), "{answer}");
    }

    #[test]
    fn error_shape_matches_protocol() {
        let v: serde_json::Value = serde_json::from_str(&error_body(401, "no_token")).unwrap();
        assert_eq!(v["status"], 401);
        assert_eq!(v["reason"], "no_token");
        assert_eq!(v["redirect_suggestions"][0], "/login");
        let v: serde_json::Value =
            serde_json::from_str(&error_body(409, "user_not_found")).unwrap();
        assert_eq!(v["redirect_suggestions"].as_array().map(Vec::len), Some(0));
    }
}
