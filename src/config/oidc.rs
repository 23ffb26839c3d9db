//! The `oidc` section: sign-in with Google or another OpenID Connect
//! provider. Without it, `POST /google_signin` answers 503.

use super::fields::Fields;
use super::host::is_local;
use super::ConfigError;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Where the provider's public keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    Url(String),
    /// A JWKS document on disk, for offline and test set-ups; re-read when a
    /// token names a key it lacks.
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// The OAuth client id: ID tokens must name it in `aud`.
    pub client_id: String,
    pub issuer: String,
    pub jwks: JwksSource,
    /// Tolerated difference between the provider's clock and ours.
    pub clock_skew: Duration,
    /// Limit of one JWKS fetch.
    pub http_timeout: Duration,
    /// How long keys are kept when the JWKS reply has no `max-age`.
    pub jwks_cache: Duration,
    /// Fewest seconds between two fetches caused by unknown key ids, so
    /// that forged tokens cannot make us hammer the provider.
    pub jwks_refetch_min: Duration,
    /// How recent an ID token must be to confirm deleting a Google account.
    pub reauth_max_age: Duration,
}

impl OidcConfig {
    /// Whether the provider is Google (whose button the login page shows).
    pub fn is_google(&self) -> bool {
        self.issuer == GOOGLE_ISSUER
    }
}

pub(super) fn oidc(f: &mut Fields, base: &Path) -> Result<Option<OidcConfig>, ConfigError> {
    let Some(mut s) = f.section("oidc")? else {
        return Ok(None);
    };
    let client_id = s.string("client_id")?;
    let issuer = s.string_or("issuer", GOOGLE_ISSUER)?;
    let jwks = match (s.opt_string("jwks_url")?, s.opt_string("jwks_file")?) {
        (Some(_), Some(_)) => {
            return Err(s.error("jwks_file", "give either jwks_url or jwks_file, not both"))
        }
        (None, Some(file)) => JwksSource::File(base.join(file)),
        (Some(url), None) => JwksSource::Url(checked_url(&s, &url)?),
        (None, None) if issuer == GOOGLE_ISSUER => JwksSource::Url(GOOGLE_JWKS_URL.into()),
        (None, None) => {
            return Err(s.error(
                "jwks_url",
                "missing: needed for an issuer other than Google's",
            ))
        }
    };
    let config = OidcConfig {
        client_id,
        issuer,
        jwks,
        clock_skew: s.secs("clock_skew_seconds", 60, 0, 600)?,
        http_timeout: s.secs("http_timeout_seconds", 10, 1, 120)?,
        jwks_cache: s.secs("jwks_cache_seconds", 300, 0, 86_400)?,
        jwks_refetch_min: s.secs("jwks_refetch_min_seconds", 10, 0, 3600)?,
        reauth_max_age: s.secs("reauth_max_age_seconds", 300, 10, 86_400)?,
    };
    s.warn_unknown();
    Ok(Some(config))
}

/// Keys fetched over plain HTTP could be swapped on the way: only HTTPS,
/// or HTTP to this machine (tests, a local mirror).
fn checked_url(s: &Fields, url: &str) -> Result<String, ConfigError> {
    if url.starts_with("https://") {
        return Ok(url.to_owned());
    }
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .map(|authority| match authority.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => host,
            _ => authority,
        });
    match host {
        Some(host) if is_local(host) => Ok(url.to_owned()),
        _ => Err(s.error("jwks_url", "must be https:// (http:// only to localhost)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(oidc: serde_json::Value) -> Result<Option<OidcConfig>, ConfigError> {
        super::oidc(
            &mut Fields::of_json(json!({ "oidc": oidc })),
            Path::new("/etc/sse"),
        )
    }

    #[test]
    fn google_defaults() {
        let c = parse(json!({"client_id": "abc.apps.googleusercontent.com"}))
            .unwrap()
            .unwrap();
        assert!(c.is_google());
        assert_eq!(c.jwks, JwksSource::Url(GOOGLE_JWKS_URL.into()));
        let c = parse(json!({"client_id": "x", "jwks_file": "keys.json"}))
            .unwrap()
            .unwrap();
        assert_eq!(c.jwks, JwksSource::File("/etc/sse/keys.json".into()));
    }

    #[test]
    fn refuses_unsafe_or_missing_key_sources() {
        let other = json!({"client_id": "x", "issuer": "https://id.example.org"});
        assert_eq!(
            parse(other).err().unwrap().key.as_deref(),
            Some("oidc.jwks_url")
        );
        for bad in [
            "http://keys.example.org/jwks",
            "http://127.0.0.1.evil.org/x",
            "ftp://x",
        ] {
            let err = parse(json!({"client_id": "x", "jwks_url": bad}))
                .err()
                .unwrap();
            assert_eq!(err.key.as_deref(), Some("oidc.jwks_url"), "{bad}");
        }
        for good in [
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
            "https://k.example/x",
        ] {
            assert!(
                parse(json!({"client_id": "x", "jwks_url": good})).is_ok(),
                "{good}"
            );
        }
        assert!(
            parse(json!({"issuer": "x"})).is_err(),
            "client_id is required"
        );
    }
}
