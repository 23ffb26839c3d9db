//! SQL on the `sessions` table. Times are Unix seconds.

use super::users::{user_from_row, User};
use super::DbError;
use postgres::GenericClient;

pub struct SessionRow {
    pub user: User,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Where a session was started: the client's address and user agent, as
/// the HTTP layer checked them (`None`: unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session's row, and the account's `last_login`, in one
/// transaction: the list of users never shows a login whose session is
/// not there, nor the other way round.
pub fn insert(
    c: &mut impl GenericClient,
    token_hash: &[u8],
    user_id: i32,
    (now, expires_at): (i64, i64),
    origin: &Origin,
) -> Result<(), DbError> {
    let mut tx = c.transaction()?;
    tx.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen, expires_at,
                               address, user_agent)
         VALUES ($1, $2, $3, $3, $4, $5, $6)",
        &[
            &token_hash,
            &user_id,
            &now,
            &expires_at,
            &origin.address,
            &origin.user_agent,
        ],
    )?;
    tx.execute(
        "UPDATE users SET last_login = $2 WHERE id = $1",
        &[&user_id, &now],
    )?;
    tx.commit()?;
    Ok(())
}

pub fn find(c: &mut impl GenericClient, token_hash: &[u8]) -> Result<Option<SessionRow>, DbError> {
    let row = c.query_opt(
        "SELECT s.created_at, s.expires_at, u.id, u.name, u.email, u.role, u.google_user
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        &[&token_hash],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SessionRow {
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        user: user_from_row(&row)?,
    }))
}

/// Records a use: moves the sliding expiry forward.
pub fn touch(
    c: &mut impl GenericClient,
    token_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    c.execute(
        "UPDATE sessions SET last_seen = $2, expires_at = $3 WHERE token_hash = $1",
        &[&token_hash, &now, &expires_at],
    )?;
    Ok(())
}

/// A session a delete removed: which, whose, and its times, from which
/// the caller tells why it ended.
pub struct DeletedRow {
    pub token_hash: Vec<u8>,
    pub user_id: i32,
    pub created_at: i64,
}

fn deleted_rows(rows: Vec<postgres::Row>) -> Result<Vec<DeletedRow>, DbError> {
    rows.iter()
        .map(|row| {
            Ok(DeletedRow {
                token_hash: row.try_get("token_hash")?,
                user_id: row.try_get("user_id")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Removes one session; returns it if it was there, so that only the
/// caller that actually ended it reports the end.
pub fn delete(
    c: &mut impl GenericClient,
    token_hash: &[u8],
) -> Result<Option<DeletedRow>, DbError> {
    let rows = c.query(
        "DELETE FROM sessions WHERE token_hash = $1 RETURNING token_hash, user_id, created_at",
        &[&token_hash],
    )?;
    Ok(deleted_rows(rows)?.pop())
}

pub fn delete_for_user(
    c: &mut impl GenericClient,
    user_id: i32,
) -> Result<Vec<DeletedRow>, DbError> {
    let rows = c.query(
        "DELETE FROM sessions WHERE user_id = $1 RETURNING token_hash, user_id, created_at",
        &[&user_id],
    )?;
    deleted_rows(rows)
}

/// Removes one session if it belongs to `user_id`: a user may end only
/// their own.
pub fn delete_owned(
    c: &mut impl GenericClient,
    token_hash: &[u8],
    user_id: i32,
) -> Result<Option<DeletedRow>, DbError> {
    let rows = c.query(
        "DELETE FROM sessions WHERE token_hash = $1 AND user_id = $2
         RETURNING token_hash, user_id, created_at",
        &[&token_hash, &user_id],
    )?;
    Ok(deleted_rows(rows)?.pop())
}

/// Removes sessions past their sliding expiry or older than `max_age`.
pub fn delete_expired(
    c: &mut impl GenericClient,
    now: i64,
    max_age: i64,
) -> Result<Vec<DeletedRow>, DbError> {
    let rows = c.query(
        "DELETE FROM sessions WHERE expires_at < $1 OR created_at < $1 - $2
         RETURNING token_hash, user_id, created_at",
        &[&now, &max_age],
    )?;
    deleted_rows(rows)
}

/// A session as `sessions list` and `GET /sessions` show it.
pub struct ListedSession {
    pub token_hash: Vec<u8>,
    pub user_id: i32,
    pub user_name: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub origin: Origin,
}

/// Every stored session, or those of one user, oldest first.
pub fn list(
    c: &mut impl GenericClient,
    user_id: Option<i32>,
) -> Result<Vec<ListedSession>, DbError> {
    let rows = c.query(
        "SELECT s.token_hash, s.user_id, u.name, s.created_at, s.last_seen, s.expires_at,
                s.address, s.user_agent
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE $1::int IS NULL OR s.user_id = $1
         ORDER BY s.created_at, s.token_hash",
        &[&user_id],
    )?;
    rows.iter()
        .map(|row| {
            Ok(ListedSession {
                token_hash: row.try_get("token_hash")?,
                user_id: row.try_get("user_id")?,
                user_name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
                last_seen: row.try_get("last_seen")?,
                expires_at: row.try_get("expires_at")?,
                origin: Origin {
                    address: row.try_get("address")?,
                    user_agent: row.try_get("user_agent")?,
                },
            })
        })
        .collect()
}

/// Sessions not past their sliding expiry at `now` (for `/metrics`).
pub fn count_active(c: &mut impl GenericClient, now: i64) -> Result<i64, DbError> {
    let row = c.query_one(
        "SELECT count(*) FROM sessions WHERE expires_at >= $1",
        &[&now],
    )?;
    Ok(row.try_get(0)?)
}
