//! Access tokens: 32 bytes from the OS generator, standard base64 (44
//! characters), as the original platform made them. Only their SHA-256 is
//! ever stored.

use super::AuthError;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// SHA-256 of a token's text: the key under which a session is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Lowercase hex, as modules are told it (`token_sha256`): they hash
    /// the tokens they hold the same way to find the one that ended.
    pub fn hex(&self) -> String {
        crate::hex::encode(&self.0)
    }

    /// A hash from its [`hex`](Self::hex) form (the hub's outbox rows);
    /// `None` if it is not 64 hex digits.
    pub fn from_hex(text: &str) -> Option<TokenHash> {
        Self::from_slice(&crate::hex::decode(text)?)
    }

    /// A hash as the database returns it; `None` if it is not 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<TokenHash> {
        bytes.try_into().ok().map(TokenHash)
    }
}

/// Fills `N` bytes from the operating system's random generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    crate::random::bytes().map_err(AuthError::Random)
}

/// A new access token.
pub fn new_token() -> Result<String, AuthError> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Whether `text` could be a token at all; anything else is refused before
/// it is hashed or looked up.
pub fn looks_like_token(text: &str) -> bool {
    text.len() == 44
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_44_chars_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 44);
        assert!(looks_like_token(&a));
        assert_ne!(a, b);
        assert_ne!(TokenHash::of(&a), TokenHash::of(&b));
    }

    #[test]
    fn hex_is_the_sha256_of_the_text() {
        assert_eq!(
            TokenHash::of("abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
