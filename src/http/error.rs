//! The one error type of the HTTP layer and the one place that turns it into
//! docs/protocol.md's JSON error shape:
//! `{"status":401,"reason":"no_token","success":false,"redirect_suggestions":["/login"]}`
//! (built by `net::response::error_body`, which the listener uses too).

use crate::auth::AuthError;
use crate::db::DbError;

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
        crate::net::response::error_body(self.status, self.reason)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_outage_is_503() {
        let e: ApiError = DbError::Unavailable("gone".into()).into();
        assert_eq!((e.status, e.reason), (503, "database_unavailable"));
    }
}
