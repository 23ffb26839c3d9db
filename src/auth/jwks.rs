//! The OpenID provider's public keys (a JWKS document), fetched over HTTPS
//! with ureq (synchronous, rustls on ring) or read from a file, and cached.
//!
//! The cache lives as long as the reply's `Cache-Control: max-age` says
//! (Google's is some hours), or `oidc.jwks_cache_seconds` without one. A
//! token naming a key id we lack triggers one refetch, since providers
//! rotate keys; such refetches are at least `jwks_refetch_min_seconds`
//! apart (other fetches do not count), so a stream of forged key ids cannot
//! make us hammer the provider.
//!
//! One fetch at a time, on a `jwks-fetch` thread of its own (single
//! flight): a caller whose key is in a stale set uses it and starts the
//! refresh without waiting; only a caller with no usable key (a cold cache,
//! or a new key id) waits for the fetch in progress, at most the HTTP
//! timeout. No lock is held during a fetch.

use super::jwt_ring::es256_curve;
use crate::config::{JwksSource, OidcConfig};
use crate::lock::lock;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A JWKS is a few kilobytes; anything near this is not one.
const MAX_JWKS_BYTES: u64 = 1 << 20;
/// A `max-age` beyond a day is capped: keys must not outlive a rotation.
const MAX_CACHE: Duration = Duration::from_secs(86_400);

/// A verification key and the one algorithm it may be used with.
#[derive(Clone)]
pub struct Key {
    pub alg: Algorithm,
    pub decoding: DecodingKey,
}

#[derive(Debug)]
pub enum JwksError {
    /// The key set could not be fetched or read, and none is cached.
    Unavailable(String),
    /// No key with the token's `kid`, even after a refetch.
    UnknownKey,
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::Unavailable(e) => write!(f, "key set unavailable: {e}"),
            JwksError::UnknownKey => write!(f, "no key with the token's kid"),
        }
    }
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    expires: Option<Instant>,
    /// The last fetch caused by an unknown key id.
    last_refetch: Option<Instant>,
    /// Why the last fetch failed, if it did.
    failure: Option<String>,
    /// A fetch is in progress (at most one is).
    fetching: bool,
    /// Fetches finished, so that waiters can tell when theirs is done.
    finished: u64,
}

pub struct KeySet {
    inner: Arc<Inner>,
}

struct Inner {
    source: JwksSource,
    agent: ureq::Agent,
    default_ttl: Duration,
    refetch_min: Duration,
    /// How long a caller without a usable key waits for a fetch.
    wait: Duration,
    cache: Mutex<Cache>,
    /// Signalled when a fetch finishes.
    fetched: Condvar,
}

impl KeySet {
    pub fn new(config: &OidcConfig) -> KeySet {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.http_timeout))
            .http_status_as_error(true)
            .max_redirects(3)
            .build()
            .into();
        let inner = Inner {
            source: config.jwks.clone(),
            agent,
            default_ttl: config.jwks_cache,
            refetch_min: config.jwks_refetch_min,
            // The fetch itself gives up after the timeout; a little more
            // lets its result arrive.
            wait: config.http_timeout + Duration::from_secs(1),
            cache: Mutex::new(Cache::default()),
            fetched: Condvar::new(),
        };
        KeySet {
            inner: Arc::new(inner),
        }
    }

    /// The key named `kid`. A stale set still serves (and is refreshed in
    /// the background); without the key, waits for one fetch.
    pub fn key(&self, kid: &str) -> Result<Key, JwksError> {
        let inner = &self.inner;
        let now = Instant::now();
        let mut cache = lock(&inner.cache);
        let fresh = cache.expires.is_some_and(|t| now < t);
        if let Some(key) = cache.keys.get(kid).cloned() {
            if !fresh {
                self.start_fetch(&mut cache);
            }
            return Ok(key);
        }
        // A stale set is refreshed; a fresh one lacking the key only when
        // the last such refetch is long enough ago. Claimed under the lock,
        // so concurrent strangers cause one fetch.
        let refetch_due = cache
            .last_refetch
            .is_none_or(|t| now.duration_since(t) >= inner.refetch_min);
        if !fresh || refetch_due {
            if fresh {
                cache.last_refetch = Some(now);
            }
            self.start_fetch(&mut cache);
        }
        if cache.fetching {
            let seen = cache.finished;
            let deadline = now + inner.wait;
            while cache.finished == seen {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                cache = inner
                    .fetched
                    .wait_timeout(cache, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        match (cache.keys.get(kid), &cache.failure) {
            (Some(key), _) => Ok(key.clone()),
            (None, Some(e)) => Err(JwksError::Unavailable(e.clone())),
            (None, None) if cache.fetching => {
                Err(JwksError::Unavailable("key set still loading".into()))
            }
            (None, None) => Err(JwksError::UnknownKey),
        }
    }

    /// Starts a fetch on a thread of its own unless one is in progress.
    fn start_fetch(&self, cache: &mut Cache) {
        if cache.fetching {
            return;
        }
        let inner = self.inner.clone();
        let started = std::thread::Builder::new()
            .name("jwks-fetch".into())
            .spawn(move || inner.refresh());
        match started {
            Ok(_) => cache.fetching = true,
            Err(e) => {
                log::warn!("oidc: cannot start a key fetch: {e}");
                cache.failure = Some(format!("cannot start a key fetch: {e}"));
            }
        }
    }
}

impl Inner {
    /// Fetches the set and replaces the cache; on failure keeps the old
    /// keys (a provider hiccup must not lock everyone out) and logs. Wakes
    /// the callers waiting for it either way.
    fn refresh(&self) {
        let started = Instant::now();
        // A panic must not leave `fetching` set, or no fetch would start again.
        let fetched = catch_unwind(AssertUnwindSafe(|| self.fetch()))
            .unwrap_or_else(|_| Err(JwksError::Unavailable("key fetch panicked".into())));
        let mut cache = lock(&self.cache);
        match fetched {
            Ok((keys, ttl)) => {
                log::info!("oidc: key set loaded: {} usable keys", keys.len());
                cache.keys = keys;
                cache.expires = Some(started + ttl);
                cache.failure = None;
            }
            Err(e) => {
                log::warn!("oidc: {e}");
                cache.failure = Some(e.to_string());
                // Try again on the next token rather than on every one.
                cache.expires = Some(started + self.refetch_min);
            }
        }
        cache.fetching = false;
        cache.finished += 1;
        drop(cache);
        self.fetched.notify_all();
    }

    fn fetch(&self) -> Result<(HashMap<String, Key>, Duration), JwksError> {
        let unavailable = |e: String| JwksError::Unavailable(e);
        let (text, ttl) = match &self.source {
            JwksSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
                (text, self.default_ttl)
            }
            JwksSource::Url(url) => {
                let mut reply = self
                    .agent
                    .get(url)
                    .header("Accept", "application/json")
                    .call()
                    .map_err(|e| unavailable(format!("{url}: {e}")))?;
                let ttl = reply
                    .headers()
                    .get("cache-control")
                    .and_then(|v| v.to_str().ok())
                    .and_then(max_age)
                    .unwrap_or(self.default_ttl)
                    .min(MAX_CACHE);
                let text = reply
                    .body_mut()
                    .with_config()
                    .limit(MAX_JWKS_BYTES)
                    .read_to_string()
                    .map_err(|e| unavailable(format!("{url}: {e}")))?;
                (text, ttl)
            }
        };
        Ok((parse(&text).map_err(unavailable)?, ttl))
    }
}

/// `max-age` of a Cache-Control value; `no-store`/`no-cache` count as 0.
fn max_age(header: &str) -> Option<Duration> {
    let mut age = None;
    for directive in header.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    age
}

/// The usable signature keys of a JWKS document, by `kid`. Keys of other
/// types, uses or algorithms are skipped, not fatal: providers publish
/// keys for several purposes.
fn parse(text: &str) -> Result<HashMap<String, Key>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" array")?;
    let mut keys = HashMap::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        if let Some((kid, key)) = usable(&jwk) {
            keys.insert(kid, key);
        }
    }
    Ok(keys)
}

fn usable(jwk: &Jwk) -> Option<(String, Key)> {
    let kid = jwk.common.key_id.clone()?;
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let (alg, declared) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if es256_curve(&p.curve) => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        _ => return None,
    };
    if matches!(jwk.common.key_algorithm, Some(a) if a != declared) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, Key { alg, decoding }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cache_control() {
        assert_eq!(
            max_age("public, max-age=19000, must-revalidate"),
            Some(Duration::from_secs(19000))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn keeps_only_signature_keys_it_can_use() {
        let doc = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "r2", "alg": "RS512", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "r3", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "AQAB", "y": "AQAB"},
            {"kty": "EC", "kid": "e2", "crv": "P-384", "x": "AQAB", "y": "AQAB"},
            {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"},
            {"kty": "future-type", "kid": "f1"}
        ]});
        let keys = parse(&doc.to_string()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["e1", "r1"]);
        assert_eq!(keys["e1"].alg, Algorithm::ES256);
        assert!(parse("{}").is_err());
    }
}
