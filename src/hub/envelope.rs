//! Signed envelopes (docs/module-protocol.md):
//! `{"signed_msg": "<base64>", "origin": "<module>", "resolve_id": "<uuid4>"}`
//! where `signed_msg` is PyNaCl's combined form, the 64-byte Ed25519
//! signature followed by the signed bytes (the inner message's JSON).

use super::keys::Keys;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use serde_json::{Map, Value};

/// A message whose signature holds under its origin's key.
#[derive(Debug)]
pub struct Verified {
    pub origin: String,
    pub inner: Map<String, Value>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not JSON, or not an object: the sender speaks another protocol.
    NotJson,
    /// Unknown origin, bad signature, or inner and outer origins differ.
    Signature,
}

pub fn open(text: &str, keys: &Keys) -> Result<Verified, Refused> {
    let Ok(Value::Object(outer)) = serde_json::from_str::<Value>(text) else {
        return Err(Refused::NotJson);
    };
    let origin = outer
        .get("origin")
        .and_then(Value::as_str)
        .ok_or(Refused::Signature)?;
    let signed = outer
        .get("signed_msg")
        .and_then(Value::as_str)
        .ok_or(Refused::Signature)?;
    let key = keys.get(origin).ok_or(Refused::Signature)?;
    let bytes = STANDARD.decode(signed).map_err(|_| Refused::Signature)?;
    if bytes.len() < Signature::BYTE_SIZE {
        return Err(Refused::Signature);
    }
    let (signature, message) = bytes.split_at(Signature::BYTE_SIZE);
    let signature = Signature::from_slice(signature).map_err(|_| Refused::Signature)?;
    // Strict verification refuses the malleable signatures libsodium refuses.
    key.verify_strict(message, &signature)
        .map_err(|_| Refused::Signature)?;
    let Ok(Value::Object(inner)) = serde_json::from_slice::<Value>(message) else {
        return Err(Refused::Signature);
    };
    if inner.get("origin").and_then(Value::as_str) != Some(origin) {
        return Err(Refused::Signature);
    }
    Ok(Verified {
        origin: origin.to_owned(),
        inner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::keys::parse;

    /// vectors.json, made by PyNaCl: every case gives the expected result.
    #[test]
    fn pynacl_vectors() {
        let vectors: Value =
            serde_json::from_str(include_str!("../../tests/data/vectors.json")).unwrap();
        let dir = std::env::temp_dir().join(format!("sse-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("verify_keys.json");
        std::fs::write(&path, vectors["verify_keys_json"].to_string()).unwrap();
        let keys = Keys::load(&path).unwrap();
        assert_eq!(
            parse(&vectors["verify_keys_json"].to_string())
                .unwrap()
                .len(),
            3
        );
        for case in vectors["signed_messages"].as_array().unwrap() {
            let got = open(case["wire"].as_str().unwrap(), &keys);
            match case["expect"].as_str().unwrap() {
                "accept" => {
                    let v = got.unwrap_or_else(|e| panic!("{}: {e:?}", case["name"]));
                    let inner: Value =
                        serde_json::from_str(case["inner"].as_str().unwrap()).unwrap();
                    assert_eq!(Value::Object(v.inner), inner, "{}", case["name"]);
                }
                _ => assert_eq!(got.unwrap_err(), Refused::Signature, "{}", case["name"]),
            }
        }
        assert_eq!(open("not json", &keys).unwrap_err(), Refused::NotJson);
        assert_eq!(open("{}", &keys).unwrap_err(), Refused::Signature);
        let _ = std::fs::remove_dir_all(dir);
    }
}
