//! PostgreSQL: the connection pool, the schema, and every SQL statement of the
//! platform (no other module contains SQL).
//!
//! Functions take `&mut impl GenericClient`, so they run on a pooled
//! connection or inside a transaction alike, and they read rows with
//! `try_get` (never the panicking `get`).

pub mod audit;
pub mod cluster;
pub mod limits;
pub mod modules;
pub mod notify;
mod probe;
pub mod resets;
pub mod schema;
pub mod sessions;
pub mod templates;
pub mod totp;
pub mod users;
pub mod verifications;

pub use probe::NotReady;

use crate::config::PgConfig;
use postgres::error::SqlState;
use postgres::NoTls;
use r2d2_postgres::PostgresConnectionManager;
use std::fmt;
use std::time::{Duration, Instant};

pub type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Failures of the database layer; each keeps the error it came from.
#[derive(Debug)]
pub enum DbError {
    /// No pooled connection in time: the server is down or restarting, or
    /// every connection is busy. Requests answer 503 and the pool
    /// reconnects by itself.
    NoConnection(r2d2::Error),
    /// The connection failed or closed, or the server is shutting down or
    /// restarting (SQLSTATE classes 08 and 57): the same to a request.
    Unavailable(postgres::Error),
    /// A unique constraint refused a row.
    Duplicate {
        constraint: String,
        source: postgres::Error,
    },
    /// Any other failure: a bug or a schema that is not ours.
    Query(postgres::Error),
}

impl DbError {
    /// Whether the database is away rather than the statement wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::NoConnection(_) | DbError::Unavailable(_))
    }
}

/// Only the server's code and message, never its detail, which may quote
/// the row (an email address, say).
impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::NoConnection(e) => write!(f, "database unavailable: {e}"),
            DbError::Unavailable(e) => match e.as_db_error() {
                Some(db) => write!(f, "database unavailable: {}", db.message()),
                None => write!(f, "database unavailable: {e}"),
            },
            DbError::Duplicate { constraint, .. } => write!(f, "duplicate value for {constraint}"),
            DbError::Query(e) => match e.as_db_error() {
                Some(db) => write!(
                    f,
                    "database query failed: {}: {}",
                    db.code().code(),
                    db.message()
                ),
                None => write!(f, "database query failed: {e}"),
            },
        }
    }
}

/// No source where the server answered: the driver's error prints the
/// server's detail too (see `Display`); a caller that needs it matches the
/// variant. A connection that failed without an answer has the reason
/// beneath (refused, timed out, a name not found), which quotes no row.
impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Unavailable(e) if e.as_db_error().is_none() => e.source(),
            _ => None,
        }
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        let Some(db) = e.as_db_error() else {
            // No server error: the connection itself failed or closed.
            return DbError::Unavailable(e);
        };
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            let constraint = db.constraint().unwrap_or("unknown").to_owned();
            return DbError::Duplicate {
                constraint,
                source: e,
            };
        }
        // Classes 08 (connection) and 57 (operator intervention: shutdown,
        // restart) mean the server is going away, not that we erred.
        if code.code().starts_with("08") || code.code().starts_with("57") {
            return DbError::Unavailable(e);
        }
        DbError::Query(e)
    }
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::NoConnection(e)
    }
}

/// The driver's settings for `cfg`; `application_name` tells the
/// connections apart in `pg_stat_activity`.
pub(crate) fn pg_config(cfg: &PgConfig, application_name: &str) -> postgres::Config {
    let mut pg = postgres::Config::new();
    pg.user(&cfg.user)
        .password(&cfg.password)
        .host(&cfg.host)
        .port(cfg.port)
        .dbname(&cfg.dbname)
        .application_name(application_name)
        .connect_timeout(Duration::from_secs(5))
        .keepalives_idle(Duration::from_secs(30))
        // A statement stuck behind a lock must not hold a request forever.
        .options("-c statement_timeout=15000");
    pg
}

/// One connection outside the pool, checked with a round trip (for
/// `check-config`).
pub fn connect_once(cfg: &PgConfig) -> Result<(), DbError> {
    let mut client = pg_config(cfg, "sse-platform-check").connect(NoTls)?;
    client.simple_query("SELECT 1")?;
    Ok(())
}

/// The pool of synchronous PostgreSQL connections.
pub struct Db {
    pool: r2d2::Pool<PostgresConnectionManager<NoTls>>,
    probe: probe::Probe,
}

impl Db {
    /// Makes the pool without connecting: connections open on first use, so
    /// the server can start (and recover) while PostgreSQL is away.
    pub fn new(cfg: &PgConfig) -> Db {
        let pg = pg_config(cfg, "sse-platform");
        let manager = PostgresConnectionManager::new(pg, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(cfg.pool_size)
            .min_idle(Some(1))
            .idle_timeout(Some(cfg.pool_idle))
            .connection_timeout(cfg.checkout_timeout)
            .error_handler(Box::new(LogErrors))
            .build_unchecked(manager);
        Db {
            pool,
            probe: probe::Probe::default(),
        }
    }

    /// A connection from the pool; a checkout that finds none idle waits
    /// (up to the checkout timeout) and is counted for `/metrics`.
    pub fn conn(&self) -> Result<Conn, DbError> {
        if let Some(conn) = self.pool.try_get() {
            return Ok(conn);
        }
        crate::metrics::METRICS.pool_waits.inc();
        Ok(self.pool.get()?)
    }

    /// Connections (in use, idle) in the pool now.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        let idle = state.idle_connections;
        (state.connections.saturating_sub(idle), idle)
    }

    /// Waits for PostgreSQL at start-up, retrying with backoff until `limit`.
    pub fn wait_until_ready(&self, limit: Duration) -> Result<(), DbError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            match self.conn() {
                Ok(_) => return Ok(()),
                Err(e) if start.elapsed() + pause > limit => return Err(e),
                Err(e) => {
                    log::warn!("not reachable yet ({e}); retrying in {pause:?}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(4));
                }
            }
        }
    }
}

/// r2d2 reports each failed connection attempt here, several a second while
/// PostgreSQL is down: debug level, since start-up and requests already say
/// it at warn level.
#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<postgres::Error> for LogErrors {
    fn handle_error(&self, error: postgres::Error) {
        log::debug!("connection failed: {}", DbError::from(error));
    }
}
