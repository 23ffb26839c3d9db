//! `update_token_ttl` (the 2021-11 original's): a module renews a user's
//! session, for a user who is active on the module's pages only.

use super::connection::Connection;
use super::handlers::{Fields, Request};
use crate::clock::unix_now;
use serde_json::json;

/// `{access_token}`: moves the session's sliding expiry to now +
/// `token_ttl_seconds`, never past its absolute end (`SessionStore`
/// renews on every validation). `expires` is the new sliding expiry.
pub(super) fn update_token_ttl(s: &Connection, r: &Request) -> Fields {
    let token = r.str("access_token")?;
    Ok(Some(match s.ctx.sessions.validate(token, unix_now())? {
        Some(session) => json!({"success": true, "expires": session.expires_at}),
        None => json!({"success": false, "reason": "token_invalid"}),
    }))
}
