//! SQL on `users.email_verified` and the `email_verifications` table
//! (sql/012). Tokens arrive already hashed (see `auth::verification`);
//! times are Unix seconds.

use super::users::{self, CreateError, Role, User};
use super::DbError;
use postgres::GenericClient;

/// Creates a password account that must verify its e-mail before it logs
/// in: the insert and the mark in one transaction, so no crash between
/// them leaves an account that never had to.
pub fn create_unverified(
    c: &mut impl GenericClient,
    email: &str,
    name: &str,
    hash: &str,
    role: Role,
) -> Result<User, CreateError> {
    let mut tx = c.transaction()?;
    let user = users::create_with_password(&mut tx, email, name, hash, role)?;
    tx.execute(
        "UPDATE users SET email_verified = FALSE WHERE id = $1",
        &[&user.id],
    )?;
    tx.commit()?;
    Ok(user)
}

/// Whether the account's e-mail is verified; `None` for no such account.
pub fn is_verified(c: &mut impl GenericClient, user_id: i32) -> Result<Option<bool>, DbError> {
    let row = c.query_opt(
        "SELECT email_verified FROM users WHERE id = $1",
        &[&user_id],
    )?;
    row.map(|r| r.try_get(0)).transpose().map_err(DbError::from)
}

/// Marks the account verified and drops its pending link; `false` when
/// there is no such account.
pub fn set_verified(c: &mut impl GenericClient, user_id: i32) -> Result<bool, DbError> {
    let mut tx = c.transaction()?;
    let n = tx.execute(
        "UPDATE users SET email_verified = TRUE WHERE id = $1",
        &[&user_id],
    )?;
    tx.execute(
        "DELETE FROM email_verifications WHERE user_id = $1",
        &[&user_id],
    )?;
    tx.commit()?;
    Ok(n > 0)
}

/// Stores the link of `user_id`, replacing any earlier one, and drops every
/// expired link on the way (the sweep, as for reset phrases).
pub fn replace(
    c: &mut impl GenericClient,
    user_id: i32,
    token_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    c.execute(
        "DELETE FROM email_verifications WHERE expires_at <= $1",
        &[&now],
    )?;
    c.execute(
        "INSERT INTO email_verifications (user_id, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE
         SET token_hash = EXCLUDED.token_hash, created_at = EXCLUDED.created_at,
             expires_at = EXCLUDED.expires_at",
        &[&user_id, &token_hash, &now, &expires_at],
    )?;
    Ok(())
}

/// Uses a link up: deletes it and, if it was still valid at `now`, marks
/// its account verified, in one transaction; returns that account. The
/// delete is what makes a link single-use, even when two clicks race.
pub fn redeem(
    c: &mut impl GenericClient,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<i32>, DbError> {
    let mut tx = c.transaction()?;
    let row = tx.query_opt(
        "DELETE FROM email_verifications WHERE token_hash = $1 RETURNING user_id, expires_at",
        &[&token_hash],
    )?;
    let Some(row) = row else { return Ok(None) };
    let expires_at: i64 = row.try_get("expires_at")?;
    let user_id: i32 = row.try_get("user_id")?;
    if expires_at <= now {
        // The expired row stays deleted: it could never be used again.
        tx.commit()?;
        return Ok(None);
    }
    tx.execute(
        "UPDATE users SET email_verified = TRUE WHERE id = $1",
        &[&user_id],
    )?;
    tx.commit()?;
    Ok(Some(user_id))
}

/// The accounts whose e-mail is not verified (few: for `GET /users`).
pub fn unverified_ids(c: &mut impl GenericClient) -> Result<Vec<i32>, DbError> {
    let rows = c.query("SELECT id FROM users WHERE NOT email_verified", &[])?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
