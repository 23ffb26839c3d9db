//! The one context value, built once in `server::run` and passed first to
//! every handler and session. Everything shared lives here; each piece that
//! changes has its own lock inside (see ARCHITECTURE.md).

use crate::auth::cookie::CookieSigner;
use crate::auth::limiter::Limiter;
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
    /// Failed logins per account name.
    pub account_failures: Limiter,
    /// Failed logins per client address (a looser limit: labs share NATs).
    pub address_failures: Limiter,
    pub hub: Arc<Hub>,
}
