//! Verifies OpenID Connect ID tokens (Google's or another provider's):
//! RS256 or ES256 only, with the provider's key named by `kid`; `iss`,
//! `aud`, `exp`, `iat` (within a small clock skew) and `email_verified`
//! checked. jsonwebtoken parses and checks the claims; `jwt_ring` does the
//! signature math; `jwks` holds the keys.
//!
//! The algorithm comes from the key, never from the token: an RSA key
//! verifies only RS256 and a P-256 key only ES256, so `alg: none`, HMAC
//! with a public key as secret and algorithm swaps all fail.

use super::jwks::{JwksError, KeySet};
use super::jwt_ring;
use crate::clock::unix_now;
use crate::config::{OidcConfig, GOOGLE_ISSUER};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// ID tokens are about a kilobyte; a much larger one is not worth parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub email: String,
    /// A display name, if the token carries one.
    pub name: Option<String>,
    /// When the provider issued the token (Unix seconds).
    pub issued_at: i64,
}

/// Why a token was refused. Shown in logs only; every one answers 401.
#[derive(Debug)]
pub enum OidcError {
    Malformed,
    Algorithm,
    Key(JwksError),
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    MissingClaim(String),
    EmailUnverified,
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcError::Malformed => write!(f, "malformed token"),
            OidcError::Algorithm => write!(f, "algorithm not allowed for the key"),
            OidcError::Key(e) => write!(f, "{e}"),
            OidcError::Signature => write!(f, "bad signature"),
            OidcError::Expired => write!(f, "expired"),
            OidcError::NotYetValid => write!(f, "issued in the future or not yet valid"),
            OidcError::Issuer => write!(f, "wrong issuer"),
            OidcError::Audience => write!(f, "wrong audience"),
            OidcError::MissingClaim(c) => write!(f, "claim '{c}' missing or malformed"),
            OidcError::EmailUnverified => write!(f, "email not verified"),
        }
    }
}

impl From<jsonwebtoken::errors::Error> for OidcError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.into_kind() {
            ErrorKind::InvalidSignature => OidcError::Signature,
            ErrorKind::ExpiredSignature => OidcError::Expired,
            ErrorKind::ImmatureSignature => OidcError::NotYetValid,
            ErrorKind::InvalidIssuer => OidcError::Issuer,
            ErrorKind::InvalidAudience => OidcError::Audience,
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => OidcError::Algorithm,
            ErrorKind::MissingRequiredClaim(c) | ErrorKind::InvalidClaimFormat(c) => {
                OidcError::MissingClaim(c)
            }
            _ => OidcError::Malformed,
        }
    }
}

/// The claims we read; `iss`, `aud` and `exp` are checked by jsonwebtoken.
#[derive(Deserialize)]
struct Claims {
    /// Required to be a string; accounts are found by email, not by it.
    #[serde(rename = "sub")]
    _sub: String,
    iat: i64,
    email: Option<String>,
    email_verified: Option<Value>,
    name: Option<String>,
}

pub struct Verifier {
    config: OidcConfig,
    issuers: Vec<String>,
    keys: KeySet,
}

impl Verifier {
    pub fn new(config: &OidcConfig) -> Verifier {
        jwt_ring::install();
        let mut issuers = vec![config.issuer.clone()];
        if config.issuer == GOOGLE_ISSUER {
            // Google documents both forms of its issuer.
            issuers.push("accounts.google.com".into());
        }
        Verifier {
            config: config.clone(),
            issuers,
            keys: KeySet::new(config),
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Checks `id_token` and returns who it names.
    pub fn verify(&self, id_token: &str) -> Result<Identity, OidcError> {
        if id_token.len() > MAX_TOKEN_BYTES {
            return Err(OidcError::Malformed);
        }
        // `alg: none` and unknown algorithms fail to parse here.
        let header = decode_header(id_token).map_err(|_| OidcError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(OidcError::Algorithm);
        }
        let kid = header.kid.ok_or(OidcError::MissingClaim("kid".into()))?;
        let key = self.keys.key(&kid).map_err(OidcError::Key)?;
        if key.alg != header.alg {
            return Err(OidcError::Algorithm);
        }
        let claims = decode::<Claims>(id_token, &key.decoding, &self.validation(key.alg))?.claims;
        self.check(claims)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.set_issuer(&self.issuers);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v.leeway = self.config.clock_skew.as_secs();
        v.validate_nbf = true;
        v
    }

    /// The checks jsonwebtoken leaves to us: `iat` not in the future, and a
    /// verified email.
    fn check(&self, claims: Claims) -> Result<Identity, OidcError> {
        if claims.iat > unix_now() + self.config.clock_skew.as_secs() as i64 {
            return Err(OidcError::NotYetValid);
        }
        let email = claims
            .email
            .filter(|e| !e.trim().is_empty())
            .ok_or(OidcError::MissingClaim("email".into()))?;
        // Google sends a boolean; some providers send the string "true".
        let verified = match claims.email_verified {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        if !verified {
            return Err(OidcError::EmailUnverified);
        }
        Ok(Identity {
            email: email.trim().to_owned(),
            name: claims.name.filter(|n| !n.trim().is_empty()),
            issued_at: claims.iat,
        })
    }
}
