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

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../tests/data/vectors.json")).unwrap()
    }

    fn b64(v: &Value) -> Vec<u8> {
        STANDARD.decode(v.as_str().unwrap()).unwrap()
    }

    /// What `envelope` sends for each accepted vector message: the outer
    /// fields of the PyNaCl wire, and a signed message that is the same
    /// JSON as the vector's, signed so that the vector's verify key (the
    /// one the platform's verify_keys.json holds) accepts it. (The bytes
    /// differ: Python's json.dumps puts spaces after separators, and the
    /// platform verifies the bytes as sent, whatever their spacing.)
    #[test]
    fn signs_like_pynacl() {
        let v = vectors();
        let accepted = v["signed_messages"].as_array().unwrap().iter();
        let mut checked = 0;
        for case in accepted.filter(|c| c["expect"] == "accept") {
            let inner: Value = serde_json::from_str(case["inner"].as_str().unwrap()).unwrap();
            let module = inner["origin"].as_str().unwrap();
            let resolve_id = inner["resolve_id"].as_str().unwrap();
            let keys = &v["modules"][module];
            let signer = Signer::new(module, keys["signing_key_file"].as_str().unwrap()).unwrap();
            let mut fields = inner.as_object().unwrap().clone();
            fields.remove("origin");
            fields.remove("resolve_id");

            let sent: Value = serde_json::from_str(&signer.envelope(fields, resolve_id)).unwrap();
            let wire: Value = serde_json::from_str(case["wire"].as_str().unwrap()).unwrap();
            let names = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(names(&sent), names(&wire), "{}", case["name"]);
            assert_eq!(sent["origin"], wire["origin"]);
            assert_eq!(sent["resolve_id"], wire["resolve_id"]);

            let combined = b64(&sent["signed_msg"]);
            let (signature, message) = combined.split_at(64);
            let parsed: Value = serde_json::from_slice(message).unwrap();
            assert_eq!(parsed, inner, "{}", case["name"]);
            let verify_key: [u8; 32] = b64(&keys["verify_key_file"]).try_into().unwrap();
            let verify_key = ed25519_dalek::VerifyingKey::from_bytes(&verify_key).unwrap();
            let signature = ed25519_dalek::Signature::from_slice(signature).unwrap();
            verify_key.verify_strict(message, &signature).unwrap();

            // Ed25519 is deterministic: PyNaCl's bytes get PyNaCl's signature.
            let theirs = b64(&wire["signed_msg"]);
            assert_eq!(&theirs[64..], case["inner"].as_str().unwrap().as_bytes());
            let ours = signer.key.sign(&theirs[64..]);
            assert_eq!(
                &theirs[..64],
                ours.to_bytes().as_slice(),
                "{}",
                case["name"]
            );
            checked += 1;
        }
        assert_eq!(checked, 2, "both accepted vectors");
    }
}
