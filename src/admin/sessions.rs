//! `sse-platform sessions ...`.

use super::{one_user, Error, Output};
use crate::auth::ended::EndReason;
use crate::db::notify::{announce, Change};
use crate::db::{sessions as sql, Db};
use serde_json::{json, Value};

/// Sessions are named by this many hex digits of their token's SHA-256.
const SHORT_ID: usize = 16;

pub fn list(db: &Db, user: Option<&str>) -> Result<Output, Error> {
    let mut conn = db.conn()?;
    let user_id = match user {
        Some(name) => Some(one_user(&mut *conn, name)?.id),
        None => None,
    };
    let rows = sql::list(&mut *conn, user_id)?;
    let mut text = format!(
        "{:<16}  {:<24} {:>10} {:>10} {:>10}",
        "session", "user", "created", "last_seen", "expires"
    );
    let mut json = Vec::new();
    for s in &rows {
        let hash = crate::hex::encode(&s.token_hash);
        let short = hash.get(..SHORT_ID).unwrap_or(&hash);
        text.push_str(&format!(
            "\n{short:<16}  {:<24} {:>10} {:>10} {:>10}",
            s.user_name, s.created_at, s.last_seen, s.expires_at
        ));
        json.push(json!({
            "token_sha256": hash, "user_id": s.user_id, "user": s.user_name,
            "created_at": s.created_at, "last_seen": s.last_seen, "expires_at": s.expires_at,
        }));
    }
    Ok(Output {
        text,
        json: Value::Array(json),
    })
}

/// Deletes every session of `user_id` in `tx` and announces each end with
/// `reason`, for the running server to pass on; returns how many ended.
pub(super) fn end_all(
    tx: &mut postgres::Transaction<'_>,
    user_id: i32,
    reason: EndReason,
) -> Result<usize, Error> {
    let ended = sql::delete_for_user(tx, user_id)?;
    for row in &ended {
        let change = Change::SessionEnded {
            user_id: row.user_id,
            token_hash: row.token_hash.clone(),
            reason: reason.word().to_owned(),
        };
        announce(tx, &change)?;
    }
    Ok(ended.len())
}

/// Ends every session of `name`; a running server refuses them at once
/// and modules hear `session_ended` (reason `revoked`) for each, then
/// `user_sessions_revoked`.
pub fn end(db: &Db, name: &str) -> Result<Output, Error> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    let user = one_user(&mut tx, name)?;
    let n = end_all(&mut tx, user.id, EndReason::Revoked)?;
    announce(&mut tx, &Change::SessionsRevoked { user_id: user.id })?;
    super::users::record(&mut tx, "sessions_ended", user.id)?;
    tx.commit()?;
    Ok(Output {
        text: format!("ended {n} sessions of '{name}'"),
        json: json!({"name": name, "user_id": user.id, "sessions_ended": n}),
    })
}
