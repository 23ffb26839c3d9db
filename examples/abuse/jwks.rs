//! Item 11 of the issue: a slow OpenID provider on loopback. Its key set
//! (one P-256 key) is stale after 2 s and each fetch takes 8 s to answer,
//! while attackers sign in with valid ID tokens from 24 addresses.

use super::attack::{Attack, Outcome, Tally};
use super::net::json_request;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "abuse.apps.googleusercontent.com";
const ISSUER: &str = "https://accounts.google.com";
const KID: &str = "abuse-key";
const FETCH_DELAY: Duration = Duration::from_secs(8);

/// The socket the provider will listen on and the `oidc` config section
/// naming it; made before the platform starts.
pub fn prepare() -> Result<(TcpListener, Value), std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let section = json!({"oidc": {"client_id": CLIENT_ID, "issuer": ISSUER,
                                  "jwks_url": format!("http://127.0.0.1:{port}/jwks")}});
    Ok((listener, section))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Signer {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    fn new() -> Result<Signer, String> {
        let rng = SystemRandom::new();
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
        let pair =
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| e.to_string())?;
        Ok(Signer { pair, rng })
    }

    fn jwks(&self) -> String {
        let point = self.pair.public_key().as_ref();
        json!({"keys": [{"kty": "EC", "kid": KID, "alg": "ES256", "use": "sig", "crv": "P-256",
                         "x": b64(&point[1..33]), "y": b64(&point[33..65])}]})
        .to_string()
    }

    /// A valid ID token for user `n`.
    fn token(&self, n: usize) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = json!({"alg": "ES256", "kid": KID, "typ": "JWT"});
        let claims = json!({"iss": ISSUER, "aud": CLIENT_ID, "sub": format!("abuse-{n}"),
                            "email": format!("google{n}@example.org"), "email_verified": true,
                            "iat": now, "exp": now + 3600});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map(|s| b64(s.as_ref()));
        format!("{input}.{}", signature.unwrap_or_default())
    }
}

// Tally slots.
const FETCHES: usize = 0;
const IN_FLIGHT: usize = 1;
const MOST_AT_ONCE: usize = 2;
const SIGNED_IN: usize = 3;
const OTHER: usize = 4;
const UNANSWERED: usize = 5;

pub fn slow_provider(a: &Attack) -> Outcome {
    let mut out = Outcome::default();
    let (Some(listener), Ok(signer)) = (a.provider.as_ref(), Signer::new()) else {
        out.check("provider and key ready", false);
        return out;
    };
    let jwks = signer.jwks();
    let counts = Tally::new(6);
    std::thread::scope(|s| {
        s.spawn(|| serve(a, listener, &jwks, &counts));
        for t in 0..usize::from(super::attack::ATTACKER_ADDRESSES) {
            let (counts, signer) = (&counts, &signer);
            s.spawn(move || {
                while !a.over() {
                    let body = json!({"id_token": signer.token(t)});
                    let request =
                        json_request("POST", "/google_signin", &body, "Connection: close\r\n");
                    let (reply, _) = a.once(Attack::attacker(t), &request, Duration::from_secs(15));
                    counts.add(
                        match reply.map(|r| r.status) {
                            Some(200) => SIGNED_IN,
                            Some(_) => OTHER,
                            None => UNANSWERED,
                        },
                        1,
                    );
                }
            });
        }
    });
    out.note(format!(
        "provider: {} key-set fetches, at most {} at once; sign-ins: {} ok, {} refused, {} unanswered within 15 s",
        counts.get(FETCHES), counts.get(MOST_AT_ONCE), counts.get(SIGNED_IN), counts.get(OTHER), counts.get(UNANSWERED)
    ));
    out.check("one key-set fetch at a time", counts.get(MOST_AT_ONCE) <= 1);
    out
}

/// The provider: every request gets the key set after [`FETCH_DELAY`],
/// with `max-age=2`. Stops when the attack ends.
fn serve(a: &Attack, listener: &TcpListener, jwks: &str, counts: &Tally) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    std::thread::scope(|s| {
        while !a.over() {
            match listener.accept() {
                Ok((stream, _)) => {
                    s.spawn(move || answer(a, stream, jwks, counts));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => return,
            }
        }
    });
}

fn answer(a: &Attack, mut stream: TcpStream, jwks: &str, counts: &Tally) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => head.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    counts.add(FETCHES, 1);
    counts.add(IN_FLIGHT, 1);
    counts.max(MOST_AT_ONCE, counts.get(IN_FLIGHT));
    super::attack::sleep_until(Instant::now() + FETCH_DELAY, || a.over());
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: public, max-age=2\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jwks}",
        jwks.len()
    );
    let _ = stream.write_all(reply.as_bytes());
    counts.sub(IN_FLIGHT, 1);
}
