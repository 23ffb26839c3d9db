//! TOTP codes (RFC 6238 over RFC 4226: HMAC-SHA1, 30-second steps, six
//! digits), the sealing of users' secrets, recovery codes, and what an
//! authenticator app is shown. All the cryptography is ring's, which the
//! platform already carries for TLS.
//!
//! A secret is 20 random bytes (RFC 4226's recommended 160 bits). It is
//! stored sealed with ChaCha20-Poly1305 under the configured key, a fresh
//! random nonce per sealing (kept before the ciphertext), and the user id as
//! associated data, so that a sealed secret copied to another row opens
//! nowhere.

use super::sealing;
use super::token::random_bytes;
use super::AuthError;
use ring::hmac;
use sha2::{Digest, Sha256};

/// RFC 6238's time step, in seconds.
pub const STEP_SECONDS: i64 = 30;
/// Steps either side of now whose codes are accepted (clock skew).
const SKEW_STEPS: i64 = 1;
pub const SECRET_LEN: usize = 20;
/// Recovery codes made at each enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (without its dash): 10 of 32, 50 bits.
const RECOVERY_LEN: usize = 10;
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// RFC 4226's HOTP value of `counter`, six digits.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes.
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = [
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ];
    (u32::from_be_bytes(word) & 0x7fff_ffff) % 1_000_000
}

/// The time step of a Unix time.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECONDS)
}

/// The code of `step` as an app shows it.
pub fn code_at(secret: &[u8], step: i64) -> String {
    format!("{:06}", hotp(secret, step.max(0) as u64))
}

/// Whether `text` could be a code at all: six ASCII digits, spaces allowed
/// (apps show "123 456"). Returns the code's value.
pub fn parse_code(text: &str) -> Option<u32> {
    let digits: String = text.chars().filter(|c| *c != ' ').collect();
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The step within one of now whose code `code` is, if it is later than
/// `last_step` (so that no step is used twice). Every candidate is computed
/// and compared, so the time taken tells nothing about which matched.
pub fn matching_step(secret: &[u8], code: u32, now: i64, last_step: i64) -> Option<i64> {
    let now = step_at(now);
    let mut found = None;
    for step in now - SKEW_STEPS..=now + SKEW_STEPS {
        let same = (hotp(secret, step.max(0) as u64) ^ code) == 0;
        if same && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new secret.
pub fn new_secret() -> Result<[u8; SECRET_LEN], AuthError> {
    random_bytes()
}

/// The secret as apps take it typed in: base32 without padding.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// `nonce || ciphertext || tag` of `secret`, bound to `user_id`.
pub fn seal(key: &[u8; 32], user_id: i32, secret: &[u8]) -> Result<Vec<u8>, AuthError> {
    sealing::seal(key, &user_id.to_be_bytes(), secret)
}

/// The secret inside `sealed`; an error if it was not sealed under `key`
/// for `user_id` (another key configured, a row tampered with).
pub fn open(key: &[u8; 32], user_id: i32, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    sealing::open(key, &user_id.to_be_bytes(), sealed).ok_or(AuthError::Crypto(
        "totp secret does not open with the configured key",
    ))
}

/// The `otpauth://` URI that apps read from the QR code (Google
/// Authenticator's key URI format; SHA1, six digits, 30 s are its defaults
/// and are named anyway).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let (issuer, account) = (percent(issuer), percent(account));
    format!(
        "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
        base32(secret)
    )
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The QR code of `text` as SVG markup (black on white, no scripts).
pub fn qr_svg(text: &str) -> Result<String, AuthError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|_| AuthError::Crypto("qr code"))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

/// Ten new recovery codes, `xxxxx-xxxxx`, for the user to keep.
pub fn new_recovery_codes() -> Result<Vec<String>, AuthError> {
    (0..RECOVERY_CODES).map(|_| recovery_code()).collect()
}

fn recovery_code() -> Result<String, AuthError> {
    let bytes: [u8; RECOVERY_LEN] = random_bytes()?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)]))
        .collect();
    Ok(format!("{}-{}", &chars[..5], &chars[5..]))
}

/// The stored form of a recovery code as typed (any case, dash and spaces
/// optional); `None` for text that cannot be one.
pub fn recovery_hash(text: &str) -> Option<[u8; 32]> {
    let code: String = text
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = code.len() == RECOVERY_LEN && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    valid.then(|| Sha256::digest(code.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (eight digits there; six here are
    /// the same value's last six).
    #[test]
    fn rfc_6238_appendix_b() {
        let secret = b"12345678901234567890";
        let rows = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, eight) in rows {
            assert_eq!(code_at(secret, step_at(time)), eight[2..], "T = {time}");
        }
    }

    #[test]
    fn skew_of_one_step_and_no_reuse() {
        let secret = [7u8; SECRET_LEN];
        let now = 1_700_000_015;
        let code = |step: i64| parse_code(&code_at(&secret, step)).unwrap();
        let t = step_at(now);
        for step in [t - 1, t, t + 1] {
            assert_eq!(matching_step(&secret, code(step), now, 0), Some(step));
        }
        for step in [t - 2, t + 2] {
            assert_eq!(matching_step(&secret, code(step), now, 0), None);
        }
        assert_eq!(matching_step(&secret, code(t), now, t), None, "used");
        assert_eq!(matching_step(&secret, code(t - 1), now, t), None, "older");
        assert_eq!(parse_code("123 456"), Some(123_456));
        for bad in ["12345", "1234567", "12a456", "١٢٣٤٥٦", ""] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_user() {
        let key = [1u8; 32];
        let secret = new_secret().unwrap();
        let sealed = seal(&key, 5, &secret).unwrap();
        assert_eq!(open(&key, 5, &sealed).unwrap(), secret);
        assert_ne!(seal(&key, 5, &secret).unwrap(), sealed, "fresh nonce");
        assert!(open(&key, 6, &sealed).is_err());
        assert!(open(&[2u8; 32], 5, &sealed).is_err());
        assert!(open(&key, 5, &sealed[..8]).is_err());
        assert!(!sealed.windows(SECRET_LEN).any(|w| w == secret));
    }

    #[test]
    fn recovery_codes_and_app_uri() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let hash = recovery_hash(&codes[0]).unwrap();
        assert_eq!(
            recovery_hash(&codes[0].to_uppercase().replace('-', " ")),
            Some(hash)
        );
        assert_eq!(recovery_hash("short"), None);
        assert_eq!(
            recovery_hash("0000000000"),
            None,
            "0 is not in the alphabet"
        );
        let uri = otpauth_uri("SSE Platform", "ann b", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/SSE%20Platform:ann%20b?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=SSE%20Platform&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("<script"));
    }
}
