//! What asking for a mail (a reset link, a verification link) has in
//! common: the address must be valid, and two limits must let it through,
//! one per e-mail address and one per client address. Every request
//! counts, whether the address has an account or not, so that neither the
//! answer nor the limit tells whether it has one.

use super::error::ApiError;
use super::request::Req;
use super::validate;
use crate::auth::limiter::{self, Keyed, Limiter};
use crate::clock::unix_millis;
use crate::ctx::Ctx;

/// The request's `email`, trimmed, once `per_email` and `per_address`
/// have counted it; 429 `too_many_requests` when either is used up.
pub fn admit<'r>(
    ctx: &Ctx,
    req: &'r Req,
    per_email: &Limiter,
    per_address: &Limiter,
) -> Result<&'r str, ApiError> {
    let email = req.require("email")?.trim();
    validate::email(email)?;
    let email_key = email.to_lowercase();
    let address_key = req.client();
    let limits: [Keyed; 2] = [(per_email, &email_key), (per_address, &address_key)];
    let now = unix_millis();
    limiter::check(&ctx.db, &limits, now).map_err(ApiError::limited_requests)?;
    limiter::count(&ctx.db, &limits, now)?;
    Ok(email)
}
