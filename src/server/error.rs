//! Why start-up failed: one variant per step, each keeping the error
//! beneath it as its `source()`, so that `report::chain` prints one line.

use crate::auth::AuthError;
use crate::config::ConfigError;
use crate::db::DbError;
use crate::hub::keys::KeysError;
use crate::mail::MailError;
use crate::net::tls::TlsError;
use std::fmt;
use std::path::PathBuf;

/// Why the platform did not start. Each variant keeps the error beneath
/// it as its `source()`; `report::chain` prints the whole line.
#[derive(Debug)]
pub enum StartError {
    Config(ConfigError),
    Tls(TlsError),
    Db(DbError),
    Admin(AdminError),
    Keys(KeysError),
    /// bcrypt refused the configured cost or the admin's password.
    Auth(AuthError),
    Mail(MailError),
    /// An operating-system call failed; `what` says which.
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Why `--create_admin` cannot make the configured account.
#[derive(Debug)]
pub enum AdminError {
    /// The config lacks the admin's name, password or email.
    Missing { config: PathBuf },
    /// The name is a look-alike of another account's.
    NameTaken { config: PathBuf, name: String },
}

impl StartError {
    /// 2 for a configuration the user must fix, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Config(_) | StartError::Admin(_) | StartError::Keys(_) => 2,
            StartError::Mail(MailError::Config(_)) => 2,
            _ => 1,
        }
    }

    pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
        let what = what.into();
        move |source| StartError::Io { what, source }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Tls(_) => f.write_str("TLS"),
            StartError::Db(e) => write!(f, "{e}"),
            StartError::Admin(_) => f.write_str("--create_admin"),
            StartError::Keys(_) => f.write_str("verify_keys"),
            StartError::Auth(e) => write!(f, "{e}"),
            StartError::Mail(e) => write!(f, "{e}"),
            StartError::Io { what, .. } => f.write_str(what),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Shown as their own text above: their causes come next.
            StartError::Config(e) => e.source(),
            StartError::Db(e) => e.source(),
            StartError::Auth(e) => e.source(),
            StartError::Mail(e) => e.source(),
            StartError::Tls(e) => Some(e),
            StartError::Admin(e) => Some(e),
            StartError::Keys(e) => Some(e),
            StartError::Io { source, .. } => Some(source),
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Missing { config } => write!(
                f,
                "config {} needs platform_admin_username, platform_admin_password and platform_admin_email",
                config.display()
            ),
            AdminError::NameTaken { config, name } => write!(
                f,
                "config {}: key 'platform_admin_username': '{name}' looks like the name of an existing account",
                config.display()
            ),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

impl From<DbError> for StartError {
    fn from(e: DbError) -> Self {
        StartError::Db(e)
    }
}

impl From<AuthError> for StartError {
    fn from(e: AuthError) -> Self {
        StartError::Auth(e)
    }
}

impl From<MailError> for StartError {
    fn from(e: MailError) -> Self {
        StartError::Mail(e)
    }
}
