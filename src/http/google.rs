//! Sign-in with Google or another OpenID Connect provider (docs/protocol.md §1,
//! `POST /google_signin`), the login page's `GET /auth/config`, and the
//! fresh-token check that replaces the password when a Google account is
//! deleted. Token checks live in `auth::oidc`.

use super::error::ApiError;
use super::reply::Reply;
use super::request::Req;
use super::validate;
use crate::auth::jwks::JwksError;
use crate::auth::oidc::{Identity, OidcError};
use crate::clock::unix_now;
use crate::ctx::Ctx;
use crate::db::users::{self, CreateError, User};
use crate::db::DbError;
use serde_json::json;
use std::time::Instant;

/// Numbered variants of a taken name tried before a random suffix.
const NAME_VARIANTS: u32 = 9;

/// GET /auth/config: what the login page needs to show a Google button.
pub fn auth_config(ctx: &Ctx, _req: &Req) -> Result<Reply, ApiError> {
    Ok(Reply::ok(json!({
        "google_client_id": google_client_id(ctx),
        "module_link_scheme": ctx.config.module_link_scheme,
    })))
}

/// The client id for Google's button, when the configured issuer is Google
/// (pages then load Google's script, and only then allow its origin).
pub fn google_client_id(ctx: &Ctx) -> Option<String> {
    ctx.oidc
        .as_ref()
        .map(|v| v.config())
        .filter(|c| c.is_google())
        .map(|c| c.client_id.clone())
}

/// POST /google_signin: `id_token` (Google's button calls it `credential`).
pub fn signin(ctx: &Ctx, req: &Req) -> Result<Reply, ApiError> {
    let token = id_token(req).ok_or(ApiError::missing_parameter())?;
    let identity = verify(ctx, req, token)?;
    let user = find_or_create(ctx, &identity)?;
    // The platform's own second factor applies to Google sign-in too.
    super::totp::after_first_factor(ctx, req, &user)
}

fn id_token(req: &Req) -> Option<&str> {
    ["id_token", "credential"]
        .into_iter()
        .filter_map(|name| req.param(name))
        .find(|t| !t.is_empty())
}

/// Checks the token; failures count against the client's address like
/// failed logins, which also bounds key refetches caused by forged tokens.
fn verify(ctx: &Ctx, req: &Req, token: &str) -> Result<Identity, ApiError> {
    let oidc = ctx
        .oidc
        .as_ref()
        .ok_or(ApiError::new(503, "google_signin_not_configured"))?;
    let address = req.client();
    ctx.address_failures
        .check(&address, Instant::now())
        .map_err(ApiError::too_many_attempts)?;
    let failed = ApiError::unauthorized("google_authentication_failed");
    match oidc.verify(token) {
        Ok(identity) if validate::email(&identity.email).is_ok() => Ok(identity),
        Ok(_) => {
            log::info!("id_token from {address} refused: unusable email");
            Err(failed)
        }
        Err(OidcError::Key(JwksError::Unavailable(_))) => {
            Err(ApiError::new(503, "google_signin_unavailable").retry_after(30))
        }
        Err(e) => {
            ctx.address_failures.count(&address, Instant::now());
            log::info!("id_token from {address} refused: {e}");
            Err(failed)
        }
    }
}

/// The account of the token's email; a first sign-in creates it. An email
/// that belongs to a password account is refused, as the original did.
fn find_or_create(ctx: &Ctx, identity: &Identity) -> Result<User, ApiError> {
    // Twice: a concurrent first sign-in may create the account between our
    // lookup and our insert.
    for _ in 0..2 {
        let mut found = users::by_email(&mut *ctx.db.conn()?, &identity.email)?;
        match found.len() {
            0 => {}
            1 => {
                let user = found.remove(0).user;
                if !user.google_user {
                    return Err(ApiError::unauthorized("email_duplication"));
                }
                return Ok(user);
            }
            _ => return Err(ApiError::conflict("login_ambiguous")),
        }
        match create(ctx, identity) {
            Ok(user) => return Ok(user),
            Err(Create::EmailTaken) => continue,
            Err(Create::Failed(e)) => return Err(e),
        }
    }
    Err(ApiError::conflict("email_already_exists"))
}

enum Create {
    EmailTaken,
    Failed(ApiError),
}

impl From<DbError> for Create {
    fn from(e: DbError) -> Self {
        Create::Failed(e.into())
    }
}

/// A new guest account without a password, named after the token's name
/// (or the email's local part), numbered or suffixed when that is taken.
fn create(ctx: &Ctx, identity: &Identity) -> Result<User, Create> {
    let base = base_name(identity);
    let mut conn = ctx.db.conn()?;
    for n in 1..=NAME_VARIANTS + 1 {
        let name = match n {
            1 => base.clone(),
            n if n <= NAME_VARIANTS => format!("{base} {n}"),
            _ => format!("{base} {}", random_suffix()?),
        };
        match users::create_google(&mut *conn, &identity.email, &name) {
            Ok(user) => {
                log::info!("accounts: created Google user {}", user.id);
                return Ok(user);
            }
            Err(CreateError::NameTaken) => continue,
            Err(CreateError::EmailTaken) => return Err(Create::EmailTaken),
            Err(CreateError::Db(e)) => return Err(e.into()),
        }
    }
    Err(Create::Failed(ApiError::conflict(
        "username_already_exists",
    )))
}

fn random_suffix() -> Result<String, Create> {
    let bytes: [u8; 3] =
        crate::auth::token::random_bytes().map_err(|e| Create::Failed(ApiError::from(e)))?;
    Ok(crate::hex::encode(&bytes))
}

/// A nickname that passes `validate::nickname`: no `@` or control
/// characters (made spaces), no other invisible ones (dropped), single
/// spaces, at most 180 characters (room for a suffix).
fn base_name(identity: &Identity) -> String {
    let raw = match &identity.name {
        Some(name) => name.as_str(),
        None => identity.email.split('@').next().unwrap_or(""),
    };
    let cleaned: String = raw
        .chars()
        .map(|c| if c == '@' || c.is_control() { ' ' } else { c })
        .filter(|&c| validate::visible(c))
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let name: String = words.join(" ").chars().take(180).collect();
    match name.trim() {
        "" => "user".into(),
        trimmed => trimmed.to_owned(),
    }
}

/// Deleting a Google account: instead of a password, a fresh ID token from
/// the provider for the same email (`id_token`), at most
/// `oidc.reauth_max_age_seconds` old.
pub fn confirm_deletion(ctx: &Ctx, req: &Req, user: &User) -> Result<(), ApiError> {
    let Some(token) = id_token(req) else {
        return Err(ApiError::bad_request("google_account_has_no_password"));
    };
    let identity = verify(ctx, req, token)?;
    if !identity.email.eq_ignore_ascii_case(&user.email) {
        log::info!(
            "deletion of user {} refused: token for another email",
            user.id
        );
        return Err(ApiError::unauthorized("google_authentication_failed"));
    }
    let max_age = ctx
        .oidc
        .as_ref()
        .map_or(0, |o| o.config().reauth_max_age.as_secs());
    if unix_now() - identity.issued_at > max_age as i64 {
        return Err(ApiError::unauthorized("google_reauthentication_required"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(name: Option<&str>, email: &str) -> Identity {
        Identity {
            email: email.into(),
            name: name.map(str::to_owned),
            issued_at: 0,
        }
    }

    #[test]
    fn names_are_valid_nicknames() {
        assert_eq!(
            base_name(&identity(Some("  Bob  Ärger "), "b@x.org")),
            "Bob Ärger"
        );
        assert_eq!(base_name(&identity(None, "carol.k@x.org")), "carol.k");
        assert_eq!(base_name(&identity(Some("a@b\u{7}c"), "b@x.org")), "a b c");
        assert_eq!(base_name(&identity(Some(" \n "), "b@x.org")), "user");
        assert_eq!(
            base_name(&identity(Some("Bo\u{200b}b \u{202e}X"), "b@x.org")),
            "Bob X"
        );
        assert_eq!(base_name(&identity(Some("\u{200b}"), "b@x.org")), "user");
        let long = "x".repeat(500);
        let name = base_name(&identity(Some(&long), "b@x.org"));
        assert_eq!(name.chars().count(), 180);
        for n in [
            name,
            base_name(&identity(Some("a@b\u{7}c\u{feff}"), "b@x.org")),
        ] {
            assert!(validate::nickname(&n).is_ok(), "{n}");
        }
    }
}
