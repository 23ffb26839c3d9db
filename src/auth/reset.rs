//! Password-reset phrases: 32 random bytes, URL-safe base64 (43
//! characters) in the mailed link, only their SHA-256 in the database.
//! A phrase is valid for `reset_ttl_seconds`, used once, and replaced when
//! the user asks again.

use super::ended::EndReason;
use super::sessions::SessionStore;
use super::token::random_bytes;
use super::AuthError;
use crate::clock::unix_now;
use crate::db::{resets, users, Db};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Length of a phrase's text: 32 bytes, base64 without padding.
const PHRASE_LEN: usize = 43;

fn hash(phrase: &str) -> [u8; 32] {
    Sha256::digest(phrase.as_bytes()).into()
}

/// Whether `text` could be a phrase at all; anything else is refused before
/// it is hashed or looked up.
pub fn looks_like_phrase(text: &str) -> bool {
    text.len() == PHRASE_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Makes a new phrase for `user_id`, replacing any earlier one; returns the
/// phrase (for the mail only) and its expiry in Unix seconds.
pub fn issue(db: &Db, user_id: i32, ttl: Duration) -> Result<(String, i64), AuthError> {
    let bytes: [u8; 32] = random_bytes()?;
    let phrase = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = unix_now();
    let expires_at = now + ttl.as_secs() as i64;
    resets::replace(&mut *db.conn()?, user_id, &hash(&phrase), now, expires_at)?;
    Ok((phrase, expires_at))
}

/// Whether `phrase` is valid now, without using it up: checked before the
/// new password is hashed, so random phrases cost no bcrypt time.
pub fn is_valid(db: &Db, phrase: &str) -> Result<bool, AuthError> {
    if !looks_like_phrase(phrase) {
        return Ok(false);
    }
    Ok(resets::find(&mut *db.conn()?, &hash(phrase), unix_now())?.is_some())
}

/// Uses up `phrase`: in one transaction, deletes it, stores `new_hash` as
/// the user's password, marks the e-mail address verified and ends the
/// user's sessions (reported once
/// committed). Returns the user, or `None` if the phrase is unknown, used
/// or expired.
pub fn redeem(
    db: &Db,
    store: &SessionStore,
    phrase: &str,
    new_hash: &str,
) -> Result<Option<i32>, AuthError> {
    if !looks_like_phrase(phrase) {
        return Ok(None);
    }
    let mut conn = db.conn()?;
    let mut tx = conn.transaction().map_err(crate::db::DbError::from)?;
    let Some(user_id) = resets::take(&mut tx, &hash(phrase), unix_now())? else {
        return Ok(None);
    };
    users::set_password(&mut tx, user_id, new_hash)?;
    // The mailed phrase proves the address as a verification link would.
    crate::db::verifications::set_verified(&mut tx, user_id)?;
    let ended = store.revoke_user_in(&mut tx, user_id, EndReason::PasswordReset)?;
    tx.commit().map_err(crate::db::DbError::from)?;
    store.announce(ended);
    Ok(Some(user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_shape() {
        let bytes = [0xffu8; 32];
        let phrase = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(phrase.len(), PHRASE_LEN);
        assert!(looks_like_phrase(&phrase));
        assert!(!looks_like_phrase(&phrase[1..]));
        assert!(!looks_like_phrase(&format!("{}+", &phrase[1..])));
        assert!(!looks_like_phrase("3f2c1b7e-uuid4-of-the-original"));
        assert_ne!(hash("a"), hash("b"));
    }
}
