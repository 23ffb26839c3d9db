//! Tornado's "secure cookie", version 2, so that modules written in Tornado
//! read the platform's `access_token` cookie with `get_secure_cookie`:
//!
//! `2|1:0|10:<timestamp>|12:<name>|<len>:<base64 value>|<hex HMAC-SHA256>`
//!
//! Each field is `<decimal length>:<bytes>`; the HMAC covers everything
//! before it, including the last `|`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Tornado refuses cookies older than this; so do we.
const MAX_AGE_SECS: i64 = 31 * 86_400;

pub struct CookieSigner {
    secret: Vec<u8>,
}

impl CookieSigner {
    pub fn new(secret: &str) -> Self {
        CookieSigner {
            secret: secret.as_bytes().to_vec(),
        }
    }

    /// The cookie value for `name` = `value`, signed at `timestamp`.
    pub fn sign(&self, name: &str, value: &str, timestamp: i64) -> String {
        let value = base64::engine::general_purpose::STANDARD.encode(value);
        let ts = timestamp.to_string();
        let mut out = String::from("2|1:0|");
        for field in [ts.as_str(), name, value.as_str()] {
            out.push_str(&format!("{}:{field}|", field.len()));
        }
        let mac = self.mac(out.as_bytes());
        out.push_str(&crate::hex::encode(&mac.finalize().into_bytes()));
        out
    }

    /// The value inside a cookie signed for `name`, if the signature holds
    /// and the cookie is not older than 31 days (nor from the future).
    pub fn verify(&self, name: &str, cookie: &str, now: i64) -> Option<String> {
        let cookie = cookie.trim_matches('"');
        let rest = cookie.strip_prefix("2|")?;
        let (key_version, rest) = field(rest)?;
        let (timestamp, rest) = field(rest)?;
        let (got_name, rest) = field(rest)?;
        let (value, rest) = field(rest)?;
        let signed = &cookie[..cookie.len() - rest.len()];
        let mac_hex = crate::hex::decode(rest)?;
        self.mac(signed.as_bytes()).verify_slice(&mac_hex).ok()?;
        let timestamp: i64 = timestamp.parse().ok()?;
        if key_version != "0" || got_name != name {
            return None;
        }
        if timestamp < now - MAX_AGE_SECS || timestamp > now + MAX_AGE_SECS {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        String::from_utf8(bytes).ok()
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(data);
        mac
    }
}

/// Splits `<len>:<bytes>|rest` into `(bytes, rest)`.
fn field(s: &str) -> Option<(&str, &str)> {
    let (len, rest) = s.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let value = rest.get(..len)?;
    let rest = rest.get(len..)?.strip_prefix('|')?;
    Some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    // vectors.json, tornado_secure_cookie_v2 (made by Tornado itself).
    const VECTOR: &str = "2|1:0|10:1700000000|12:access_token|60:QUFFQ0F3UUZCZ2NJQ1FvTERBME9EeEFSRWhNVUZSWVhHQmthR3h3ZEhoOD0=|5606975f570a813ea0e60b27b60e7edc305457307c6f2f8ab5a220daf92f6b41";

    #[test]
    fn signs_like_tornado() {
        let s = CookieSigner::new(SECRET);
        assert_eq!(s.sign("access_token", TOKEN, 1_700_000_000), VECTOR);
    }

    #[test]
    fn verifies_tornado_cookie_and_rejects_tampering() {
        let s = CookieSigner::new(SECRET);
        let now = 1_700_000_100;
        assert_eq!(
            s.verify("access_token", VECTOR, now).as_deref(),
            Some(TOKEN)
        );
        assert_eq!(
            s.verify("access_token", &format!("\"{VECTOR}\""), now)
                .as_deref(),
            Some(TOKEN)
        );
        assert_eq!(s.verify("other", VECTOR, now), None);
        let tampered = VECTOR.replace("1700000000", "1700000001");
        assert_eq!(s.verify("access_token", &tampered, now), None);
        assert_eq!(
            CookieSigner::new("another secret!!").verify("access_token", VECTOR, now),
            None
        );
        assert_eq!(
            s.verify("access_token", VECTOR, now + MAX_AGE_SECS + 1),
            None
        );
        assert_eq!(s.verify("access_token", "2|garbage", now), None);
        assert_eq!(s.verify("access_token", "", now), None);
    }
}
