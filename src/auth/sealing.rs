//! Sealing bytes at rest with ChaCha20-Poly1305: a fresh random nonce per
//! sealing, kept before the ciphertext, and associated data that binds a
//! sealed value to where it belongs (a user id for TOTP secrets, the
//! publishing process for the hub's outbox rows), so that a value copied
//! to another row does not open.

use super::token::random_bytes;
use super::AuthError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::{Digest, Sha256};

fn aead_key(key: &[u8; 32]) -> Result<LessSafeKey, AuthError> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| AuthError::Crypto("sealing key"))
}

/// `nonce || ciphertext || tag` of `plain`, bound to `bound_to`.
pub fn seal(key: &[u8; 32], bound_to: &[u8], plain: &[u8]) -> Result<Vec<u8>, AuthError> {
    let nonce: [u8; NONCE_LEN] = random_bytes()?;
    let mut sealed = plain.to_vec();
    aead_key(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(bound_to),
            &mut sealed,
        )
        .map_err(|_| AuthError::Crypto("seal"))?;
    let mut out = nonce.to_vec();
    out.append(&mut sealed);
    Ok(out)
}

/// What `sealed` holds, if it was sealed under `key` for `bound_to`.
pub fn open(key: &[u8; 32], bound_to: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plain = aead_key(key)
        .ok()?
        .open_in_place(nonce, Aad::from(bound_to), &mut in_out)
        .ok()?;
    Some(plain.to_vec())
}

/// A key for `purpose` from a configured secret (every process of one
/// deployment has the same), so that one secret never keys two uses.
pub fn derive_key(purpose: &str, secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"sse-platform key\0");
    h.update(purpose.as_bytes());
    h.update(b"\0");
    h.update(secret);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_its_key_and_binding() {
        let key = derive_key("test", b"secret");
        let sealed = seal(&key, b"row 1", b"payload").expect("sealed");
        assert_eq!(
            open(&key, b"row 1", &sealed).as_deref(),
            Some(&b"payload"[..])
        );
        assert_eq!(open(&key, b"row 2", &sealed), None, "other binding");
        assert_eq!(
            open(&derive_key("other", b"secret"), b"row 1", &sealed),
            None
        );
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(open(&key, b"row 1", &tampered), None, "tampered");
        assert_eq!(open(&key, b"row 1", &sealed[..5]), None, "short");
        assert_ne!(
            seal(&key, b"row 1", b"payload").ok(),
            Some(sealed),
            "fresh nonce"
        );
    }
}
