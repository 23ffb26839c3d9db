//! The one context value, built once in `server::run` and passed first to
//! every handler and session. Everything shared lives here; each piece that
//! changes has its own lock inside (see ARCHITECTURE.md).

use crate::auth::cookie::CookieSigner;
use crate::auth::limiter::Limiter;
use crate::auth::lockout::Lockout;
use crate::auth::password::Passwords;
use crate::auth::sessions::SessionStore;
use crate::config::Config;
use crate::db::Db;
use crate::hub::Hub;
use std::sync::Arc;

pub struct Ctx {
    pub config: Config,
    /// `--dev`: requests without a session act as an administrator.
    pub dev: bool,
    /// The port actually bound (the config may say 0).
    pub port: u16,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub db: Arc<Db>,
    pub sessions: SessionStore,
    pub passwords: Passwords,
    pub cookies: CookieSigner,
    /// Failed logins per account from one client address (the tight limit).
    pub login_pair_failures: Limiter,
    /// Failed logins per account from all addresses (the bound on guessing).
    pub account_failures: Limiter,
    /// Failed logins per client address (a looser limit: labs share NATs).
    pub address_failures: Limiter,
    /// Wrong second-step codes per account, over all its login challenges.
    pub totp_failures: Limiter,
    /// Registrations per client address.
    pub register_per_address: Limiter,
    pub hub: Arc<Hub>,
    /// Password reset by mail; `None` without an `smtp` section.
    pub mail: Option<crate::mail::Mailer>,
    /// Reset requests per email address, and per client address.
    pub reset_per_email: Limiter,
    pub reset_per_address: Limiter,
    /// Requests to mail a verification link again, per email address and
    /// per client address.
    pub verify_per_email: Limiter,
    pub verify_per_address: Limiter,
    /// Google / OpenID Connect sign-in; `None` without an `oidc` section.
    pub oidc: Option<crate::auth::oidc::Verifier>,
    /// This process among those sharing the database.
    pub process: crate::db::cluster::Process,
    /// The audit trail's queue to the `audit` thread.
    pub audit: crate::audit::Audit,
}

impl Ctx {
    /// The two limits that lock an account (what `POST /users/unlock` clears).
    pub fn lockout(&self) -> Lockout<'_> {
        Lockout {
            pair: &self.login_pair_failures,
            account: &self.account_failures,
        }
    }
}
