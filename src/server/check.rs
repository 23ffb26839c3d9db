//! `sse-platform check-config`: every start-up step that reads a file or
//! reaches a server, without starting anything, so that a config can be
//! tried before a restart.

use super::StartError;
use crate::auth::password::Passwords;
use crate::config::Config;
use crate::hub::Hub;
use std::path::Path;

/// Loads and checks everything `run` would: the config, the TLS
/// certificate and key, `verify_keys.json`, the bcrypt cost, the mail
/// settings, and one connection to the database.
pub fn check(config: &Path) -> Result<(), StartError> {
    let config = Config::load(config)?;
    super::tls_config(&config)?;
    Hub::new(&config).map_err(StartError::Keys)?;
    Passwords::new(config.bcrypt_cost)?;
    crate::mail::Mailer::check(&config)?;
    crate::db::connect_once(&config.pg)?;
    Ok(())
}
