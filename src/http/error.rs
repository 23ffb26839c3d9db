//! The one error type of the HTTP layer and the one place that turns it into
//! docs/protocol.md's JSON error shape:
//! `{"status":401,"reason":"no_token","success":false,"redirect_suggestions":["/login"]}`
//! (built by `net::response::error_body`, which the listener uses too).

use crate::auth::limiter::Refused;
use crate::auth::AuthError;
use crate::db::DbError;
use std::fmt;

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    /// A snake_case word the pages turn into a sentence.
    pub reason: &'static str,
    /// Seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
    /// The failure underneath, for the request's log line; never answered.
    pub cause: Option<Cause>,
}

/// What made a request fail that is not the client's doing.
#[derive(Debug)]
pub enum Cause {
    Db(DbError),
    Auth(AuthError),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Db(e) => write!(f, "{e}"),
            Cause::Auth(e) => write!(f, "{e}"),
        }
    }
}

impl Cause {
    /// An outage is a warning (it passes); anything else an error (a bug).
    fn level(&self) -> log::Level {
        match self {
            Cause::Db(e) | Cause::Auth(AuthError::Db(e)) if e.is_unavailable() => log::Level::Warn,
            _ => log::Level::Error,
        }
    }
}

/// The reason word, and the cause when there is one.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {cause}", self.reason),
            None => f.write_str(self.reason),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub const fn new(status: u16, reason: &'static str) -> Self {
        ApiError {
            status,
            reason,
            retry_after: None,
            cause: None,
        }
    }

    /// Logs the cause, if any, once, naming the request by its route
    /// (`routes::loggable`), never by its raw path or query.
    pub fn log_cause(&self, route: &str) {
        if let Some(cause) = &self.cause {
            log::log!(cause.level(), "{route}: {cause}");
        }
    }

    fn caused_by(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
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

    /// 429 with `Retry-After`: a limit of attempts is used up for `wait`
    /// more seconds (the limiters' `check` gives it).
    pub fn too_many_attempts(wait: u64) -> Self {
        Self::new(429, "too_many_attempts").retry_after(wait)
    }

    /// The same for reset mails, whose word the pages know as a request's.
    pub fn too_many_requests(wait: u64) -> Self {
        Self::new(429, "too_many_requests").retry_after(wait)
    }

    /// A refused login-like attempt: 429 `too_many_attempts`, or the
    /// database's answer when the limits could not be read (fail closed).
    pub fn limited(refused: Refused) -> Self {
        match refused {
            Refused::Wait(wait) => Self::too_many_attempts(wait),
            Refused::Db(e) => e.into(),
        }
    }

    /// The same for limited requests (reset mails): `too_many_requests`.
    pub fn limited_requests(refused: Refused) -> Self {
        match refused {
            Refused::Wait(wait) => Self::too_many_requests(wait),
            Refused::Db(e) => e.into(),
        }
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

/// The answer to a database failure; the failure itself is logged where
/// the request's answer is made (`log_cause`), once.
impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        let answer = match &e {
            e if e.is_unavailable() => ApiError::new(503, "database_unavailable").retry_after(5),
            DbError::Duplicate { .. } => ApiError::conflict("already_exists"),
            _ => ApiError::internal(),
        };
        answer.caused_by(Cause::Db(e))
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Db(e) => e.into(),
            other => ApiError::internal().caused_by(Cause::Auth(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_outage_is_503_and_keeps_its_cause() {
        let pg = crate::config::PgConfig::unreachable(std::time::Duration::from_millis(50));
        let e: ApiError = crate::db::Db::new(&pg).conn().err().unwrap().into();
        assert_eq!((e.status, e.reason), (503, "database_unavailable"));
        assert!(matches!(&e.cause, Some(c) if c.level() == log::Level::Warn));
        assert!(e
            .to_string()
            .starts_with("database_unavailable: database unavailable"));
    }
}
