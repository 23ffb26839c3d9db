//! Everything that touches secrets: passwords, access tokens, the signed
//! cookie, sessions, the login-failure limiter, password-reset phrases,
//! OpenID Connect ID tokens, and the second factor (TOTP secrets, recovery
//! codes, login challenges). No other module sees a password hash or
//! computes a token's hash.

pub mod cookie;
pub mod ended;
pub mod jwks;
pub mod jwt_ring;
pub mod limiter;
pub mod lockout;
pub mod oidc;
pub mod password;
pub mod reset;
pub mod sealing;
pub mod sessions;
pub mod token;
pub mod totp;
pub mod two_factor;
pub mod verification;

use std::fmt;

/// Failures of the auth layer.
#[derive(Debug)]
pub enum AuthError {
    /// The database behind sessions or users failed.
    Db(crate::db::DbError),
    /// bcrypt refused a hash or a password (a corrupt stored hash, say).
    Hash(bcrypt::BcryptError),
    /// The OS random generator failed; nothing secret can be made.
    Random(getrandom::Error),
    /// Sealing, opening or encoding a TOTP secret failed (a stored secret
    /// that the configured key does not open, say): what failed, no data.
    Crypto(&'static str),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Db(e) => write!(f, "{e}"),
            AuthError::Hash(e) => write!(f, "password hash: {e}"),
            AuthError::Random(e) => write!(f, "random generator: {e}"),
            AuthError::Crypto(what) => write!(f, "cryptography: {what}"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthError::Db(e) => Some(e),
            AuthError::Hash(e) => Some(e),
            AuthError::Random(e) => Some(e),
            AuthError::Crypto(_) => None,
        }
    }
}

impl From<crate::db::DbError> for AuthError {
    fn from(e: crate::db::DbError) -> Self {
        AuthError::Db(e)
    }
}

impl From<bcrypt::BcryptError> for AuthError {
    fn from(e: bcrypt::BcryptError) -> Self {
        AuthError::Hash(e)
    }
}
