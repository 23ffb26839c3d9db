//! The `smtp` section (outgoing mail) and the password-reset limits.
//!
//! Without an `smtp` section the platform runs with mail off: password reset
//! by mail answers 503 `mail_not_configured`.

use super::fields::Fields;
use super::host::is_local;
use super::ConfigError;
use lettre::message::Mailbox;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the connection to the mail server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused without it.
    StartTls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption: only for a relay on this machine.
    None,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Both or neither of username and password.
    pub credentials: Option<(String, String)>,
    /// The sender, `Name <address>` or a bare address, parsed once here.
    pub from: Mailbox,
    /// Extra trusted root certificates (PEM), for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Named in the subject and text of every mail.
    pub platform_name: String,
    /// Limit of each network step of one delivery (connect, each command).
    pub timeout: Duration,
    /// Deliveries tried per mail before it is given up (and logged).
    pub max_attempts: u32,
    /// Pause before the first retry; it doubles with every further one.
    pub retry_delay: Duration,
    /// Mails waiting for the mail thread; more are dropped (and logged).
    pub queue_len: usize,
}

/// Written by hand so that the password never reaches a log.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Password reset by mail: how long a link works and how often it may be
/// asked for.
#[derive(Clone, Debug)]
pub struct ResetConfig {
    pub ttl: Duration,
    pub max_per_email: u32,
    pub max_per_address: u32,
    pub window: Duration,
}

pub(super) fn reset(f: &mut Fields) -> Result<ResetConfig, ConfigError> {
    Ok(ResetConfig {
        ttl: f.secs("reset_ttl_seconds", 3600, 1, 7 * 86_400)?,
        max_per_email: f.int("reset_max_per_email", 5, 1, 1_000_000)?,
        max_per_address: f.int("reset_max_per_address", 5, 1, 1_000_000)?,
        window: f.secs("reset_window_seconds", 3600, 1, 7 * 86_400)?,
    })
}

pub(super) fn smtp(f: &mut Fields, base: &Path) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(mut s) = f.section("smtp")? else {
        return Ok(None);
    };
    let host = s.string("host")?;
    let security = match s.string_or("security", "starttls")?.as_str() {
        "starttls" => SmtpSecurity::StartTls,
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        other => {
            return Err(s.error(
                "security",
                format!("'{other}': expected starttls, tls or none"),
            ))
        }
    };
    if security == SmtpSecurity::None && !is_local(&host) {
        return Err(s.error(
            "security",
            "none (no encryption) is allowed only for localhost or a loopback address",
        ));
    }
    let default_port = match security {
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Tls => 465,
        SmtpSecurity::None => 25,
    };
    let credentials = match (s.opt_string("username")?, s.opt_string("password")?) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        (Some(_), None) => return Err(s.error("password", "missing: username needs a password")),
        (None, Some(_)) => return Err(s.error("username", "missing: password needs a username")),
    };
    let from_text = s.string("from")?;
    let from: Mailbox = from_text
        .parse()
        .map_err(|e| s.error("from", format!("'{from_text}' is not a mail address: {e}")))?;
    let config = SmtpConfig {
        host,
        port: s.int("port", default_port, 1, 65_535)?,
        security,
        credentials,
        from,
        ca_file: s.opt_string("ca_file")?.map(|p| base.join(p)),
        platform_name: s.string_or("platform_name", "SSE Platform")?,
        timeout: s.secs("timeout_seconds", 10, 1, 600)?,
        max_attempts: s.int("max_attempts", 4, 1, 100)?,
        retry_delay: s.secs("retry_delay_seconds", 30, 1, 86_400)?,
        queue_len: s.int("queue_len", 256, 1, 1_000_000)?,
    };
    s.warn_unknown();
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(smtp: serde_json::Value) -> Result<Option<SmtpConfig>, ConfigError> {
        super::smtp(
            &mut Fields::of_json(json!({ "smtp": smtp })),
            Path::new("/etc"),
        )
    }

    #[test]
    fn defaults_and_ports() {
        let c = parse(json!({"host": "mail.example.org", "from": "Lab <noreply@example.org>"}))
            .unwrap()
            .unwrap();
        assert_eq!((c.security, c.port), (SmtpSecurity::StartTls, 587));
        assert!(c.credentials.is_none());
        let c = parse(json!({"host": "mail.example.org", "security": "tls", "from": "a@b.org"}))
            .unwrap()
            .unwrap();
        assert_eq!(c.port, 465);
        let mut none = Fields::of_json(json!({}));
        assert!(smtp(&mut none, Path::new("/etc")).unwrap().is_none());
    }

    #[test]
    fn refuses_plaintext_to_remote_hosts_and_bad_keys() {
        let err = parse(json!({"host": "mail.example.org", "security": "none", "from": "a@b.org"}))
            .err()
            .unwrap();
        assert_eq!(err.key.as_deref(), Some("smtp.security"));
        for host in ["localhost", "127.0.0.1", "[::1]"] {
            assert!(parse(json!({"host": host, "security": "none", "from": "a@b.org"})).is_ok());
        }
        let err = parse(json!({"host": "h", "from": "not an address"}))
            .err()
            .unwrap();
        assert_eq!(err.key.as_deref(), Some("smtp.from"));
        let err = parse(json!({"host": "h", "from": "a@b.org", "username": "u"}))
            .err()
            .unwrap();
        assert_eq!(err.key.as_deref(), Some("smtp.password"));
        let err = parse(json!("smtp.example.org")).err().unwrap();
        assert_eq!(err.key.as_deref(), Some("smtp"));
    }

    #[test]
    fn the_documented_example_loads() {
        let text = include_str!("../../config.example.json");
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
        let mut f = Fields::new(Path::new("example.json"), map);
        let c = smtp(&mut f, Path::new("/etc")).unwrap().unwrap();
        assert_eq!((c.port, c.security), (587, SmtpSecurity::StartTls));
        assert_eq!(reset(&mut f).unwrap().max_per_email, 5);
        let o = super::super::oidc::oidc(&mut f, Path::new("/etc"))
            .unwrap()
            .unwrap();
        assert!(o.is_google());
    }

    #[test]
    fn debug_hides_the_password() {
        let c =
            parse(json!({"host": "h", "from": "a@b.org", "username": "u", "password": "hunter2"}))
                .unwrap()
                .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
