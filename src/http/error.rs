//! The one error type of the HTTP layer and the one place that turns it into
//! docs/protocol.md's JSON error shape:
//! `{"status":401,"reason":"no_token","success":false,"redirect_suggestions":["/login"]}`.
//! This file does not import tiny_http, so the listener can use it too.

use crate::auth::AuthError;
use crate::db::DbError;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// A snake_case word the pages turn into a sentence.
    pub reason: &'static str,
    /// Seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub const fn new(status: u16, reason: &'static str) -> Self {
        ApiError {
            status,
            reason,
            retry_after: None,
        }
    }

    pub const fn bad_request(reason: &'static str) -> Self {
        Self::new(400, reason)
    }

    pub const fn unauthorized(reason: &'static str) -> Self {
        Self::new(401, reason)
    }

    pub const fn conflict(reason: &'static str) -> Self {
        Self::new(409, reason)
    }

    pub const fn missing_parameter() -> Self {
        Self::bad_request("missing_query_parameter")
    }

    pub const fn internal() -> Self {
        Self::new(500, "internal_error")
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn body(&self) -> String {
        error_body(self.status, self.reason)
    }
}

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

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => {
                log::warn!("{e}");
                ApiError::new(503, "database_unavailable").retry_after(5)
            }
            DbError::Duplicate(_) => ApiError::conflict("already_exists"),
            DbError::Query(_) => {
                log::error!("{e}");
                ApiError::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(e) => e.into(),
            other => {
                log::error!("{other}");
                ApiError::internal()
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn database_outage_is_503() {
        let e: ApiError = DbError::Unavailable("gone".into()).into();
        assert_eq!((e.status, e.reason), (503, "database_unavailable"));
    }
}
