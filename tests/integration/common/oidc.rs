//! An OpenID provider for the tests: RSA keys (made by the `openssl`
//! command, since ring cannot generate RSA keys) and P-256 keys (made by
//! ring), ID tokens signed with them, and a JWKS served over local HTTP
//! that counts its fetches and can be changed while the platform runs.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ISSUER: &str = "https://accounts.google.com";
pub const CLIENT_ID: &str = "test-client.apps.googleusercontent.com";

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64(header).base64(claims)`, the part a JWS signs.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// A signing key with its key id.
pub enum Key {
    Rsa { kid: String, pair: RsaKeyPair },
    Ec { kid: String, pair: EcdsaKeyPair },
}

impl Key {
    /// A new 2048-bit RSA key (RS256).
    pub fn rsa(kid: &str) -> Key {
        let out = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-outform", "DER"])
            .output()
            .expect("run openssl (scripts/test installs it)");
        assert!(out.status.success(), "openssl genpkey failed");
        // With -outform DER, openssl writes the PKCS#1 RSAPrivateKey.
        let pair = RsaKeyPair::from_der(&out.stdout).expect("RSA key from openssl");
        Key::Rsa {
            kid: kid.into(),
            pair,
        }
    }

    /// A new P-256 key (ES256).
    pub fn ec(kid: &str) -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generate P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("P-256 key");
        Key::Ec {
            kid: kid.into(),
            pair,
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            Key::Rsa { kid, .. } | Key::Ec { kid, .. } => kid,
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Key::Rsa { .. } => "RS256",
            Key::Ec { .. } => "ES256",
        }
    }

    /// The public key as a JWK, as a provider publishes it.
    pub fn jwk(&self) -> Value {
        match self {
            Key::Rsa { kid, pair } => {
                let c: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                       "n": b64(&c.n), "e": b64(&c.e)})
            }
            Key::Ec { kid, pair } => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
        }
    }

    /// The public key's bytes: the DER `RSAPublicKey` or the EC point (what
    /// an attacker would use as an HMAC secret in a key-confusion attack).
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            Key::Rsa { pair, .. } => pair.public().as_ref().to_vec(),
            Key::Ec { pair, .. } => pair.public_key().as_ref().to_vec(),
        }
    }

    /// A signed ID token with these claims, `kid` and `alg` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "kid": self.kid(), "typ": "JWT"});
        self.sign_with_header(&header, claims)
    }

    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let rng = SystemRandom::new();
        let signature = match self {
            Key::Rsa { pair, .. } => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .expect("RSA sign");
                sig
            }
            Key::Ec { pair, .. } => pair
                .sign(&rng, input.as_bytes())
                .expect("ECDSA sign")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }
}

/// An HS256 token under `secret`.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let input = signing_input(header, claims);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("hmac key");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// Claims of a good token for `email`, issued now, valid for an hour.
pub fn claims(email: &str, name: &str) -> Value {
    let now = super::unix_now();
    json!({
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": format!("sub-{email}"),
        "email": email,
        "email_verified": true,
        "name": name,
        "iat": now,
        "exp": now + 3600,
    })
}

/// A JWKS document with these keys' public halves.
pub fn jwks(keys: &[&Key]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// Serves a JWKS at `http://127.0.0.1:PORT/jwks`, one request per
/// connection, with a settable body, `Cache-Control` and delay (a slow
/// provider).
pub struct JwksServer {
    pub port: u16,
    body: Arc<Mutex<String>>,
    cache_control: Arc<Mutex<String>>,
    delay: Arc<Mutex<Duration>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(doc: &Value) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = JwksServer {
            port,
            body: Arc::new(Mutex::new(doc.to_string())),
            cache_control: Arc::new(Mutex::new("public, max-age=3600".into())),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let (body, cache, delay, fetches) = (
            server.body.clone(),
            server.cache_control.clone(),
            server.delay.clone(),
            server.fetches.clone(),
        );
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                fetches.fetch_add(1, Ordering::SeqCst);
                // Each connection on a thread of its own, so that a slow
                // answer does not hide how many fetches were made.
                let delay = *delay.lock().unwrap_or_else(|e| e.into_inner());
                let body = body.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let cache = cache.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: {cache}\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let _ = stream.write_all(reply.as_bytes());
                });
            }
        });
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks", self.port)
    }

    pub fn set(&self, doc: &Value) {
        *self.body.lock().unwrap_or_else(|e| e.into_inner()) = doc.to_string();
    }

    pub fn set_cache_control(&self, value: &str) {
        *self.cache_control.lock().unwrap_or_else(|e| e.into_inner()) = value.into();
    }

    /// Answers every later fetch only after `delay`.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
