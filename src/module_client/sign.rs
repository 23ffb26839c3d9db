//! Signing envelopes the way the original module client (PyNaCl) does.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{json, Map, Value};

pub struct Signer {
    module: String,
    key: SigningKey,
}

impl Signer {
    /// `seed_b64` is the content of the original `signing_key.key`: base64
    /// of the 32-byte seed.
    pub fn new(module: &str, seed_b64: &str) -> Result<Self, String> {
        let seed = STANDARD
            .decode(seed_b64.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("the signing key is not base64 of a 32-byte seed")?;
        Ok(Signer {
            module: module.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The envelope for `inner`, which gets `origin` and `resolve_id` added.
    pub fn envelope(&self, mut inner: Map<String, Value>, resolve_id: &str) -> String {
        inner.insert("origin".into(), Value::String(self.module.clone()));
        inner.insert("resolve_id".into(), Value::String(resolve_id.to_owned()));
        let bytes = Value::Object(inner).to_string().into_bytes();
        let signature = self.key.sign(&bytes);
        let mut combined = signature.to_bytes().to_vec();
        combined.extend_from_slice(&bytes);
        json!({
            "signed_msg": STANDARD.encode(combined),
            "origin": self.module,
            "resolve_id": resolve_id,
        })
        .to_string()
    }
}

pub use crate::random::uuid4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid4());
    }

    /// The vector ListServ's key signs "valid module_start" byte for byte.
    #[test]
    fn signs_like_pynacl() {
        let v: Value = serde_json::from_str(include_str!("../../tests/data/vectors.json")).unwrap();
        let signer = Signer::new(
            "ListServ",
            v["modules"]["ListServ"]["signing_key_file"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let case = &v["signed_messages"][0];
        let inner_text = case["inner"].as_str().unwrap();
        let wire: Value = serde_json::from_str(case["wire"].as_str().unwrap()).unwrap();
        let combined = STANDARD
            .decode(wire["signed_msg"].as_str().unwrap())
            .unwrap();
        // Ed25519 is deterministic: the same bytes give the same signature.
        let signature = signer.key.sign(inner_text.as_bytes());
        assert_eq!(&combined[..64], signature.to_bytes().as_slice());
    }
}
