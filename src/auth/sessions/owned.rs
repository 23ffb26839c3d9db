//! A user's own sessions: the list their page shows and the one they end
//! from it. Sessions are named there by an id derived from the token's
//! hash, never by the hash itself: modules hear the hash in
//! `session_ended`, and a page (or a script on it) needs no handle that
//! names the session anywhere else.

use super::{SessionStore, TokenHash};
use crate::auth::ended::EndReason;
use crate::auth::AuthError;
use crate::db::sessions::{self as sql, ListedSession, Origin};
use crate::lock::lock;
use sha2::{Digest, Sha256};

/// Hex digits of a session's id: 128 bits, unique among one user's
/// sessions with room to spare.
pub const ID_LEN: usize = 32;

/// Keeps the ids apart from every other SHA-256 taken of a token's hash.
const ID_LABEL: &[u8] = b"sse-platform session id\0";

/// A live session as its user sees it.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: String,
    pub token_hash: TokenHash,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    pub origin: Origin,
}

/// The id under which a session is listed and ended.
pub fn public_id(hash: &TokenHash) -> String {
    let digest = Sha256::new()
        .chain_update(ID_LABEL)
        .chain_update(hash.0)
        .finalize();
    let mut hex = crate::hex::encode(&digest);
    hex.truncate(ID_LEN);
    hex
}

impl SessionStore {
    /// The user's sessions that are live at `now`, oldest first, with the
    /// last use and expiry the cache knows (the database's lag behind).
    pub fn list_user(&self, user_id: i32, now: i64) -> Result<Vec<Listed>, AuthError> {
        let rows = sql::list(&mut *self.db.conn()?, Some(user_id))?;
        let cache = lock(&self.cache);
        let listed = rows
            .into_iter()
            .filter_map(|row| {
                let hash = TokenHash::from_slice(&row.token_hash)?;
                let mut s = listed(hash, row);
                if let Some(c) = cache.get(&hash) {
                    s.last_seen = s.last_seen.max(c.last_seen);
                    s.expires_at = s.expires_at.max(c.expires_at);
                }
                let live = now < s.expires_at && now < s.created_at.saturating_add(self.max);
                live.then_some(s)
            })
            .collect();
        Ok(listed)
    }

    /// Ends the session of `user_id` listed as `id`; `token` is the
    /// caller's own, named in the report if that is the one that ends.
    /// `false` if the user has no session of that id (another user's id
    /// included, so that ids cannot be probed).
    pub fn end_listed(
        &self,
        user_id: i32,
        id: &str,
        reason: EndReason,
        token: Option<&str>,
    ) -> Result<bool, AuthError> {
        if id.len() != ID_LEN {
            return Ok(false);
        }
        let mut conn = self.db.conn()?;
        let found = sql::list(&mut *conn, Some(user_id))?
            .into_iter()
            .filter_map(|row| TokenHash::from_slice(&row.token_hash))
            .find(|hash| public_id(hash) == id);
        let Some(hash) = found else {
            return Ok(false);
        };
        lock(&self.cache).remove(&hash);
        let Some(row) = sql::delete_owned(&mut *conn, &hash.0, user_id)? else {
            return Ok(false);
        };
        drop(conn);
        let token = token.filter(|t| TokenHash::of(t) == hash);
        self.report(&[row], reason, token, None);
        Ok(true)
    }
}

fn listed(token_hash: TokenHash, row: ListedSession) -> Listed {
    Listed {
        id: public_id(&token_hash),
        token_hash,
        created_at: row.created_at,
        last_seen: row.last_seen,
        expires_at: row.expires_at,
        origin: row.origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_length_hex_and_not_the_hash() {
        let hash = TokenHash::of("a token");
        let id = public_id(&hash);
        assert_eq!(id.len(), ID_LEN);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!hash.hex().contains(&id), "not a part of the hash");
        assert_eq!(id, public_id(&hash), "stable");
        assert_ne!(id, public_id(&TokenHash::of("another token")));
    }
}
