//! E-mail verification links: 32 random bytes, URL-safe base64 (the shape
//! of a reset phrase) in the mailed link, only their SHA-256 in the
//! database. A link is valid for `email_verification_hours`, used once,
//! and replaced when the user asks again.

use super::reset::looks_like_phrase;
use super::token::random_bytes;
use super::AuthError;
use crate::clock::unix_now;
use crate::db::{verifications, Db};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::time::Duration;

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Makes a new link token for `user_id`, replacing any earlier one;
/// returns the token (for the mail only) and its expiry in Unix seconds.
pub fn issue(db: &Db, user_id: i32, ttl: Duration) -> Result<(String, i64), AuthError> {
    let bytes: [u8; 32] = random_bytes()?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = unix_now();
    let expires_at = now + ttl.as_secs() as i64;
    verifications::replace(&mut *db.conn()?, user_id, &hash(&token), now, expires_at)?;
    Ok((token, expires_at))
}

/// Uses `token` up and marks its account verified; returns the account, or
/// `None` if the token is malformed, unknown, used or expired (a malformed
/// one is not even looked up).
pub fn redeem(db: &Db, token: &str) -> Result<Option<i32>, AuthError> {
    if !looks_like_phrase(token) {
        return Ok(None);
    }
    Ok(verifications::redeem(
        &mut *db.conn()?,
        &hash(token),
        unix_now(),
    )?)
}
