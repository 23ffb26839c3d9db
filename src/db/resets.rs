//! SQL on the `password_resets` table. Phrases arrive already hashed (see
//! `auth::reset`); times are Unix seconds.

use super::DbError;
use postgres::GenericClient;

/// Stores the phrase of `user_id`, replacing any earlier one, and drops
/// every expired phrase on the way (resets are rare, so this is the sweep).
pub fn replace(
    c: &mut impl GenericClient,
    user_id: i32,
    phrase_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    c.execute(
        "DELETE FROM password_resets WHERE expires_at <= $1",
        &[&now],
    )?;
    c.execute(
        "INSERT INTO password_resets (user_id, phrase_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE
         SET phrase_hash = EXCLUDED.phrase_hash, created_at = EXCLUDED.created_at,
             expires_at = EXCLUDED.expires_at",
        &[&user_id, &phrase_hash, &now, &expires_at],
    )?;
    Ok(())
}

/// The user of a phrase that is still valid at `now`.
pub fn find(
    c: &mut impl GenericClient,
    phrase_hash: &[u8],
    now: i64,
) -> Result<Option<i32>, DbError> {
    let row = c.query_opt(
        "SELECT user_id FROM password_resets WHERE phrase_hash = $1 AND expires_at > $2",
        &[&phrase_hash, &now],
    )?;
    row.map(|r| r.try_get(0)).transpose().map_err(DbError::from)
}

/// Deletes a phrase and returns its user if it was still valid: the one
/// statement that makes a phrase single-use, even under concurrent redeems.
pub fn take(
    c: &mut impl GenericClient,
    phrase_hash: &[u8],
    now: i64,
) -> Result<Option<i32>, DbError> {
    let row = c.query_opt(
        "DELETE FROM password_resets WHERE phrase_hash = $1 RETURNING user_id, expires_at",
        &[&phrase_hash],
    )?;
    let Some(row) = row else { return Ok(None) };
    let expires_at: i64 = row.try_get("expires_at")?;
    if expires_at <= now {
        return Ok(None);
    }
    Ok(Some(row.try_get("user_id")?))
}
