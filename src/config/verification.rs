//! E-mail verification of self-registered accounts (off by default): the
//! link's lifetime and the limits on asking for it again.

use super::fields::Fields;
use super::ConfigError;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct VerificationConfig {
    /// `require_email_verification`: a registration gets a mailed link and
    /// cannot log in before using it. Needs the `smtp` section.
    pub required: bool,
    pub ttl: Duration,
    /// Resend requests per e-mail address and per client address in the
    /// window.
    pub max_per_email: u32,
    pub max_per_address: u32,
    pub window: Duration,
}

pub(super) fn verification(f: &mut Fields) -> Result<VerificationConfig, ConfigError> {
    let hours: u64 = f.int("email_verification_hours", 48, 1, 30 * 24)?;
    Ok(VerificationConfig {
        required: f.bool("require_email_verification", false)?,
        ttl: Duration::from_secs(hours * 3600),
        max_per_email: f.int("email_verification_max_per_email", 3, 1, 1_000_000)?,
        max_per_address: f.int("email_verification_max_per_address", 10, 1, 1_000_000)?,
        window: f.secs("email_verification_window_seconds", 3600, 1, 7 * 86_400)?,
    })
}
