//! jsonwebtoken's cryptography, done by ring 0.17.
//!
//! Why: jsonwebtoken (maintained, widely used) parses tokens and checks
//! their claims, but its two built-in backends bring either aws-lc (a second
//! C crypto library beside ring, which rustls already uses here) or the
//! RustCrypto `rsa` crate (RUSTSEC-2023-0071, no fixed release). This
//! backend verifies exactly the two algorithms OpenID providers use, RS256
//! and ES256, with ring; it signs nothing and refuses every other algorithm,
//! so `none`, HMAC and the rest fail even if a caller allowed them.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{RsaPublicKeyComponents, UnparsedPublicKey};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: no_signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components: |_| Err(ErrorKind::InvalidKeyFormat.into()),
        extract_ec_public_key_coordinates: |_, _| Err(ErrorKind::InvalidKeyFormat.into()),
        compute_digest: digest,
    },
};

/// Makes this backend jsonwebtoken's for the whole process. Idempotent; it
/// must run before the first token is decoded (`oidc::Verifier::new`).
pub fn install() {
    if let Err(other) = PROVIDER.install_default() {
        if !std::ptr::eq(other, &PROVIDER) {
            log::error!("oidc: another jsonwebtoken crypto provider is installed");
        }
    }
}

fn no_signer(_: &Algorithm, _: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    Err(ErrorKind::InvalidAlgorithm.into())
}

fn verifier(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    match (alg, key.family(), key.kind()) {
        (Algorithm::RS256, AlgorithmFamily::Rsa, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            Ok(Box::new(Rs256 {
                n: n.clone(),
                e: e.clone(),
            }))
        }
        (Algorithm::ES256, AlgorithmFamily::Ec, DecodingKeyKind::SecretOrDer(point)) => {
            Ok(Box::new(Es256 {
                point: point.clone(),
            }))
        }
        _ => Err(Error::from(ErrorKind::InvalidAlgorithm)),
    }
}

fn digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
    };
    ring::digest::digest(alg, data).as_ref().to_vec()
}

/// RSASSA-PKCS1-v1_5 with SHA-256; ring insists on 2048 to 8192-bit keys.
struct Rs256 {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl signature::Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let key = RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        };
        key.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// ECDSA on P-256 with SHA-256; JWS carries `r || s` (the "fixed" form).
struct Es256 {
    /// The uncompressed point, `04 || x || y`.
    point: Vec<u8>,
}

impl signature::Verifier<Vec<u8>> for Es256 {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

/// The curve a JWK must name for ES256.
pub fn es256_curve(curve: &EllipticCurve) -> bool {
    matches!(curve, EllipticCurve::P256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    #[test]
    fn es256_round_trip_and_refusals() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let sig = pair.sign(&rng, b"message").unwrap().as_ref().to_vec();
        let key = DecodingKey::from_ec_der(pair.public_key().as_ref());
        let v = verifier(&Algorithm::ES256, &key).unwrap();
        assert!(v.verify(b"message", &sig).is_ok());
        assert!(v.verify(b"massage", &sig).is_err());
        // The algorithm must fit the key: no HMAC, no RS256 on an EC key.
        assert!(verifier(&Algorithm::HS256, &key).is_err());
        assert!(verifier(&Algorithm::RS256, &key).is_err());
        let secret = DecodingKey::from_secret(pair.public_key().as_ref());
        assert!(verifier(&Algorithm::HS256, &secret).is_err());
        assert!(no_signer(&Algorithm::ES256, &EncodingKey::from_secret(b"k")).is_err());
    }
}
