//! bcrypt password hashes, compatible with the original's (`$2b$12$`), the
//! `$2a$` form other systems on the same table write, and PHP's (`$2y$`).

use super::AuthError;
use crate::metrics::METRICS;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Runs one bcrypt computation and adds its time to the metrics.
fn timed<T>(f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    METRICS.bcrypt_seconds.observe(started.elapsed());
    out
}

pub struct Passwords {
    cost: u32,
    /// A hash of nothing in particular, verified against when an account does
    /// not exist so that a failed login takes the same time either way.
    /// Computed on a thread of its own at start (a quarter second at cost
    /// 12, which start-up need not wait for); a login that needs it sooner
    /// waits for that thread.
    dummy_hash: Arc<OnceLock<String>>,
}

/// The text behind the dummy hash.
const DUMMY: &str = "timing equaliser";

impl Passwords {
    pub fn new(cost: u32) -> Result<Self, AuthError> {
        if !(4..=31).contains(&cost) {
            return Err(bcrypt::BcryptError::CostNotAllowed(cost).into());
        }
        let dummy_hash = Arc::new(OnceLock::new());
        let filling = dummy_hash.clone();
        // If no thread can start, the first login without an account fills it.
        let _ = std::thread::Builder::new()
            .name("hash-dummy".into())
            .spawn(move || {
                filling.get_or_init(|| dummy_of(cost));
            });
        Ok(Passwords { cost, dummy_hash })
    }

    pub fn hash(&self, password: &str) -> Result<String, AuthError> {
        Ok(timed(|| bcrypt::hash(password, self.cost))?)
    }

    /// A new hash of `password` at the configured cost, in the same form as
    /// `old` (`$2a$`, `$2b$`, `$2y$`): another system reads the same table and
    /// may accept only the form it wrote (`$2a$`, say).
    pub fn rehash(&self, password: &str, old: &str) -> Result<String, AuthError> {
        let version = match old.get(..4) {
            Some("$2a$") => bcrypt::Version::TwoA,
            Some("$2y$") => bcrypt::Version::TwoY,
            _ => bcrypt::Version::TwoB,
        };
        Ok(timed(|| bcrypt::hash_with_result(password, self.cost))?.format_for_version(version))
    }

    /// Whether `password` matches `hash`. A stored hash that is not bcrypt
    /// (or empty, as for Google accounts) matches nothing.
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        timed(|| bcrypt::verify(password, hash)).unwrap_or(false)
    }

    /// Spends the time of one verification, for accounts that do not exist.
    pub fn verify_nothing(&self, password: &str) {
        let dummy = self.dummy_hash.get_or_init(|| dummy_of(self.cost));
        let _ = timed(|| bcrypt::verify(password, dummy));
    }

    /// Whether a stored hash is cheaper than the configured cost, so that a
    /// successful login should replace it.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        hash_cost(hash).is_some_and(|cost| cost < self.cost)
    }
}

/// The cost field of `$2b$12$...`.
fn hash_cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

/// A hash of `DUMMY` at `cost` (checked in `Passwords::new`; a failure
/// leaves it empty, which verifies as nothing at once).
fn dummy_of(cost: u32) -> String {
    bcrypt::hash(DUMMY, cost).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // vectors.json, "bcrypt": made by Python's bcrypt.
    const PASSWORD: &str = "pytest123";
    const HASH_2B: &str = "$2b$12$LvAKw9jO8JBB2heIV06X2.K0Auccwlbs/0UKoX7BKN/70UJd6qaDe";
    const HASH_2A: &str = "$2a$10$P8UHCQ/O.aXsGldPoV8fN.TCSg/pdbOt9YazOil83O22l3VUN9h.O";

    #[test]
    fn verifies_python_bcrypt_vectors() {
        let p = Passwords::new(4).unwrap();
        assert!(p.verify(PASSWORD, HASH_2B));
        assert!(p.verify(PASSWORD, HASH_2A));
        assert!(p.verify(PASSWORD, &HASH_2B.replacen("$2b$", "$2y$", 1)));
        assert!(!p.verify("pytest124", HASH_2B));
        assert!(!p.verify(PASSWORD, ""));
        assert!(!p.verify(PASSWORD, "not a hash"));
    }

    #[test]
    fn rehash_only_cheaper_hashes() {
        let p = Passwords::new(11).unwrap();
        assert!(p.needs_rehash(HASH_2A));
        assert!(!p.needs_rehash(HASH_2B));
        let new = p.hash("secret password").unwrap();
        assert!(new.starts_with("$2b$11$"));
        assert!(p.verify("secret password", &new));
        let upgraded = p.rehash(PASSWORD, HASH_2A).unwrap();
        assert!(upgraded.starts_with("$2a$11$"), "{upgraded}");
        assert!(p.verify(PASSWORD, &upgraded));
        assert!(p.rehash(PASSWORD, HASH_2B).unwrap().starts_with("$2b$11$"));
    }
}
