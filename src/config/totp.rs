//! Two-factor sign-in with TOTP: the key that seals users' secrets in the
//! database, the roles that must use it, and the limits of the second step.
//! Without a key, enrolment answers 503 `totp_not_configured`; requiring a
//! role to use TOTP without a key is a configuration error.

use super::fields::Fields;
use super::ConfigError;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The four role words (config is below `db`, which parses them).
const ROLES: [&str; 4] = ["guest", "parent", "teacher", "admin"];

/// 32 bytes that seal TOTP secrets. `Debug` never shows them, so the
/// derived `Debug` of `Config` cannot leak the key into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[derive(Clone, Debug)]
pub struct TotpConfig {
    /// `totp_encryption_key` or the file `totp_encryption_key_file` names.
    pub key: Option<SecretKey>,
    /// Users of these roles (role words) must enrol before they get a session.
    pub required_roles: Vec<String>,
    /// The name authenticator apps show beside the account.
    pub issuer: String,
    /// How long a login's second step may take.
    pub challenge_ttl: Duration,
    /// Wrong codes that end a challenge.
    pub challenge_max_failures: u32,
    /// Wrong codes per account, over all challenges, in the window.
    pub max_failures_per_account: u32,
    pub failure_window: Duration,
}

impl TotpConfig {
    /// Whether users of `role` (a role word) must use TOTP.
    pub fn required_for(&self, role: &str) -> bool {
        self.required_roles.iter().any(|r| r == role)
    }
}

pub(super) fn totp(f: &mut Fields, base: &Path) -> Result<TotpConfig, ConfigError> {
    let key = key(f, base)?;
    let required_roles = roles(f)?;
    if key.is_none() && !required_roles.is_empty() {
        return Err(f.error(
            "totp_required_roles",
            "needs totp_encryption_key (or totp_encryption_key_file) to be set",
        ));
    }
    Ok(TotpConfig {
        key,
        required_roles,
        issuer: f.string_or("totp_issuer", "SSE Platform")?,
        challenge_ttl: f.secs("totp_challenge_seconds", 300, 30, 3600)?,
        challenge_max_failures: f.int("totp_challenge_max_failures", 5, 1, 100)?,
        max_failures_per_account: f.int("totp_max_failures_per_account", 20, 1, 1_000_000)?,
        failure_window: f.secs("totp_failure_window_seconds", 900, 1, 86_400)?,
    })
}

/// The key from the config or from a file (relative to the config's
/// folder), 64 hex digits either way; never both.
fn key(f: &mut Fields, base: &Path) -> Result<Option<SecretKey>, ConfigError> {
    let inline = f.opt_string("totp_encryption_key")?;
    let file = f.opt_string("totp_encryption_key_file")?;
    let (name, text) = match (inline, file) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(f.error(
                "totp_encryption_key_file",
                "give either totp_encryption_key or totp_encryption_key_file, not both",
            ))
        }
        (Some(text), None) => ("totp_encryption_key", text),
        (None, Some(file)) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                f.error(
                    "totp_encryption_key_file",
                    format!("{}: {e}", path.display()),
                )
            })?;
            ("totp_encryption_key_file", text)
        }
    };
    parse_key(text.trim())
        .map(|k| Some(SecretKey(k)))
        .ok_or_else(|| f.error(name, "expected 64 hex digits (32 bytes)"))
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

fn roles(f: &mut Fields) -> Result<Vec<String>, ConfigError> {
    let items = match f.take("totp_required_roles") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(items)) => items,
        Some(other) => {
            return Err(f.error(
                "totp_required_roles",
                format!("expected a list of roles, got {other}"),
            ))
        }
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(role) if ROLES.contains(&role) => Ok(role.to_owned()),
            _ => Err(f.error(
                "totp_required_roles",
                format!("{item}: expected guest, parent, teacher or admin"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn key_roles_and_their_errors() {
        let mut f =
            Fields::of_json(json!({"totp_encryption_key": KEY, "totp_required_roles": ["admin"]}));
        let t = totp(&mut f, Path::new(".")).unwrap();
        assert_eq!(t.key.as_ref().map(|k| k.0[31]), Some(0x1f));
        assert!(t.required_for("admin") && !t.required_for("guest"));
        assert_eq!(format!("{:?}", t.key), "Some(SecretKey(..))");

        let mut f = Fields::of_json(json!({"totp_required_roles": ["admin"]}));
        let e = totp(&mut f, Path::new(".")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("totp_required_roles"));
        assert!(e.problem.contains("totp_encryption_key"), "{}", e.problem);

        let mut f = Fields::of_json(json!({"totp_encryption_key": &KEY[1..]}));
        let e = totp(&mut f, Path::new(".")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("totp_encryption_key"));
        let mut f =
            Fields::of_json(json!({"totp_encryption_key": KEY, "totp_required_roles": ["root"]}));
        assert!(totp(&mut f, Path::new(".")).is_err());
        let mut f = Fields::of_json(json!({"totp_encryption_key_file": "/nonexistent/key"}));
        let e = totp(&mut f, Path::new(".")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("totp_encryption_key_file"));
        assert_eq!(parse_key(&"é".repeat(32)), None);
    }

    #[test]
    fn the_key_may_come_from_a_file_beside_the_config() {
        let dir = std::env::temp_dir().join(format!("sse-totp-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("totp.key"), format!("{KEY}\n")).unwrap();
        let mut f = Fields::of_json(json!({"totp_encryption_key_file": "totp.key"}));
        let t = totp(&mut f, &dir).unwrap();
        assert_eq!(t.key.map(|k| k.0[1]), Some(1));
        let both = json!({"totp_encryption_key": KEY, "totp_encryption_key_file": "totp.key"});
        let e = totp(&mut Fields::of_json(both), &dir).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("totp_encryption_key_file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
