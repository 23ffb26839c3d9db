//! The second factor's steps on the database: enrolment (start, confirm),
//! a code or recovery code checked against an enabled secret, turning it
//! off, and a login's challenge between its password and its code.
//!
//! A challenge is a token like a session's (32 random bytes), stored as its
//! SHA-256 in PostgreSQL so that any process can finish the login; it is
//! used once, dies after `totp_challenge_seconds` or its
//! `totp_challenge_max_failures`-th wrong code, and wrong codes also count
//! per account (`totp_max_failures_per_account`) over all challenges, so a
//! stolen password does not buy unlimited guesses by logging in again.

use super::limiter::Limiter;
use super::token::{looks_like_token, new_token, TokenHash};
use super::totp;
use super::AuthError;
use crate::config::TotpConfig;
use crate::db::totp::{self as store, Purpose};
use crate::db::users::User;
use crate::db::{Db, DbError};
use postgres::GenericClient;
use std::fmt;
use std::time::Instant;

/// Why a step of the second factor did not happen.
#[derive(Debug)]
pub enum TotpError {
    /// No `totp_encryption_key`: no secret can be sealed or opened.
    NotConfigured,
    AlreadyEnabled,
    /// Confirmation without a started enrolment.
    NotEnrolling,
    NotEnabled,
    /// Not a code of this step, the one before or after; or not a recovery code.
    WrongCode,
    /// A code of a step already used.
    CodeUsed,
    /// Unknown, used, expired or dead challenge.
    ChallengeNotValid,
    /// The account's wrong codes are used up: seconds to wait.
    TooMany(u64),
    Auth(AuthError),
}

impl fmt::Display for TotpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TotpError::Auth(e) => write!(f, "{e}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl From<DbError> for TotpError {
    fn from(e: DbError) -> Self {
        TotpError::Auth(AuthError::Db(e))
    }
}

impl From<AuthError> for TotpError {
    fn from(e: AuthError) -> Self {
        TotpError::Auth(e)
    }
}

/// What enrolment shows the user once: the secret as text, and as the
/// `otpauth://` URI and its QR code.
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
    pub qr_svg: String,
}

/// A second step that failed: why, and whose challenge it was when known.
#[derive(Debug)]
pub struct Refused {
    pub user_id: Option<i32>,
    pub error: TotpError,
}

impl<E: Into<TotpError>> From<E> for Refused {
    fn from(e: E) -> Self {
        Refused {
            user_id: None,
            error: e.into(),
        }
    }
}

/// How a second step or a check was passed.
pub struct Passed {
    pub user_id: i32,
    /// The recovery codes of an enrolment just confirmed, to show once.
    pub recovery_codes: Option<Vec<String>>,
    pub used_recovery_code: bool,
}

/// The second factor of the platform's users.
pub struct TwoFactor<'a> {
    pub db: &'a Db,
    pub config: &'a TotpConfig,
}

impl TwoFactor<'_> {
    fn key(&self) -> Result<&[u8; 32], TotpError> {
        self.config
            .key
            .as_ref()
            .map(|k| &k.0)
            .ok_or(TotpError::NotConfigured)
    }

    /// Whether the user has TOTP on (confirmed): a login then needs a code.
    pub fn enabled(&self, user_id: i32) -> Result<bool, TotpError> {
        Ok(store::enabled(&mut *self.db.conn()?, user_id)?)
    }

    /// Whether the user has TOTP on, and how many recovery codes are left.
    pub fn status(&self, user_id: i32) -> Result<(bool, i64), TotpError> {
        let mut conn = self.db.conn()?;
        let enabled = store::enabled(&mut *conn, user_id)?;
        let left = if enabled {
            store::recovery_codes_left(&mut *conn, user_id)?
        } else {
            0
        };
        Ok((enabled, left))
    }

    /// A new secret for `user`, stored sealed and not yet on.
    pub fn start(&self, user: &User, now: i64) -> Result<Enrolment, TotpError> {
        let key = self.key()?;
        let secret = totp::new_secret()?;
        let sealed = totp::seal(key, user.id, &secret)?;
        if !store::start(&mut *self.db.conn()?, user.id, &sealed, now)? {
            return Err(TotpError::AlreadyEnabled);
        }
        let uri = totp::otpauth_uri(&self.config.issuer, &user.name, &secret);
        Ok(Enrolment {
            secret: totp::base32(&secret),
            qr_svg: totp::qr_svg(&uri)?,
            uri,
        })
    }

    /// Turns TOTP on with a code of the started enrolment; returns the new
    /// recovery codes.
    pub fn confirm(&self, user_id: i32, code: &str, now: i64) -> Result<Vec<String>, TotpError> {
        let key = self.key()?;
        let mut conn = self.db.conn()?;
        let mut tx = conn.transaction().map_err(DbError::from)?;
        let codes = confirm_in(&mut tx, key, user_id, code, now)?;
        tx.commit().map_err(DbError::from)?;
        Ok(codes)
    }

    /// Checks a code or a recovery code of the user's enabled secret, and
    /// uses it up.
    pub fn check(&self, user_id: i32, proof: &str, now: i64) -> Result<bool, TotpError> {
        check_in(&mut *self.db.conn()?, self.key()?, user_id, proof, now)
    }

    /// Turns the user's TOTP off (or drops an unconfirmed enrolment) and
    /// ends the user's pending challenges; whether there was a secret.
    pub fn remove(&self, user_id: i32) -> Result<bool, TotpError> {
        let mut conn = self.db.conn()?;
        let mut tx = conn.transaction().map_err(DbError::from)?;
        let removed = store::remove(&mut tx, user_id)?;
        store::drop_challenges(&mut tx, user_id)?;
        tx.commit().map_err(DbError::from)?;
        Ok(removed)
    }

    /// A new challenge for a login whose password was right.
    pub fn issue_challenge(
        &self,
        user_id: i32,
        purpose: Purpose,
        now: i64,
    ) -> Result<String, TotpError> {
        let token = new_token()?;
        let expires_at = now + self.config.challenge_ttl.as_secs() as i64;
        let hash = TokenHash::of(&token).0;
        store::insert_challenge(
            &mut *self.db.conn()?,
            &hash,
            user_id,
            purpose,
            now,
            expires_at,
        )?;
        Ok(token)
    }

    /// The user of a live enrolment challenge, for its enrolment's start.
    pub fn enrolling_user(&self, challenge: &str, now: i64) -> Result<i32, TotpError> {
        if !looks_like_token(challenge) {
            return Err(TotpError::ChallengeNotValid);
        }
        let hash = TokenHash::of(challenge).0;
        match store::challenge(&mut *self.db.conn()?, &hash, now)? {
            Some(c) if c.purpose == Purpose::Enrol => Ok(c.user_id),
            _ => Err(TotpError::ChallengeNotValid),
        }
    }

    /// A login's second step: `proof` (a code, or a recovery code) for the
    /// challenge. On success the challenge is used up; a wrong code counts
    /// against the challenge and, in `failures`, against the account.
    pub fn second_step(
        &self,
        failures: &Limiter,
        challenge: &str,
        proof: &str,
        now: i64,
    ) -> Result<Passed, Refused> {
        let key = self.key()?;
        if !looks_like_token(challenge) {
            return Err(TotpError::ChallengeNotValid.into());
        }
        let hash = TokenHash::of(challenge).0;
        let mut conn = self.db.conn()?;
        let mut tx = conn.transaction().map_err(DbError::from)?;
        let Some(found) = store::challenge(&mut tx, &hash, now)? else {
            return Err(TotpError::ChallengeNotValid.into());
        };
        let refused = |error| Refused {
            user_id: Some(found.user_id),
            error,
        };
        let account = format!("user:{}", found.user_id);
        failures
            .check(&account, Instant::now())
            .map_err(|wait| refused(TotpError::TooMany(wait)))?;
        let result = match found.purpose {
            Purpose::Code => {
                check_in(&mut tx, key, found.user_id, proof, now).map(|recovery| (None, recovery))
            }
            Purpose::Enrol => confirm_in(&mut tx, key, found.user_id, proof, now)
                .map(|codes| (Some(codes), false)),
        };
        let count = || failures.count(&account, Instant::now());
        let (recovery_codes, used_recovery_code) =
            self.settle(tx, &hash, result, count).map_err(refused)?;
        Ok(Passed {
            user_id: found.user_id,
            recovery_codes,
            used_recovery_code,
        })
    }

    /// Ends a second step in its transaction: a pass uses the challenge up
    /// (once, even if two requests raced); a wrong code counts against it
    /// (and, through `count`, against the account) and may end it.
    fn settle<T>(
        &self,
        mut tx: postgres::Transaction<'_>,
        hash: &[u8],
        result: Result<T, TotpError>,
        count: impl FnOnce(),
    ) -> Result<T, TotpError> {
        match result {
            Ok(passed) => {
                if !store::take_challenge(&mut tx, hash)? {
                    return Err(TotpError::ChallengeNotValid);
                }
                tx.commit().map_err(DbError::from)?;
                Ok(passed)
            }
            Err(e @ (TotpError::WrongCode | TotpError::CodeUsed)) => {
                let max = self.config.challenge_max_failures as i32;
                store::challenge_failed(&mut tx, hash, max)?;
                tx.commit().map_err(DbError::from)?;
                count();
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

/// `check` inside the caller's transaction; `Ok(true)` when a recovery
/// code (rather than a TOTP code) passed.
fn check_in(
    c: &mut impl GenericClient,
    key: &[u8; 32],
    user_id: i32,
    proof: &str,
    now: i64,
) -> Result<bool, TotpError> {
    let row = store::secret(c, user_id)?.filter(|s| s.enabled);
    let Some(row) = row else {
        return Err(TotpError::NotEnabled);
    };
    if let Some(code) = totp::parse_code(proof) {
        let secret = totp::open(key, user_id, &row.sealed)?;
        return use_code(c, &secret, user_id, code, now, row.last_step).map(|()| false);
    }
    match totp::recovery_hash(proof) {
        Some(hash) if store::take_recovery_code(c, user_id, &hash)? => Ok(true),
        _ => Err(TotpError::WrongCode),
    }
}

/// Accepts `code` once: its step must be within one of now and later than
/// any used; the update that records it settles a concurrent race.
fn use_code(
    c: &mut impl GenericClient,
    secret: &[u8],
    user_id: i32,
    code: u32,
    now: i64,
    last_step: i64,
) -> Result<(), TotpError> {
    match totp::matching_step(secret, code, now, last_step) {
        Some(step) if store::use_step(c, user_id, step)? => Ok(()),
        Some(_) => Err(TotpError::CodeUsed),
        None if totp::matching_step(secret, code, now, i64::MIN).is_some() => {
            Err(TotpError::CodeUsed)
        }
        None => Err(TotpError::WrongCode),
    }
}

fn confirm_in(
    c: &mut impl GenericClient,
    key: &[u8; 32],
    user_id: i32,
    code: &str,
    now: i64,
) -> Result<Vec<String>, TotpError> {
    let row = store::secret(c, user_id)?;
    let row = match row {
        Some(row) if row.enabled => return Err(TotpError::AlreadyEnabled),
        Some(row) => row,
        None => return Err(TotpError::NotEnrolling),
    };
    let code = totp::parse_code(code).ok_or(TotpError::WrongCode)?;
    let secret = totp::open(key, user_id, &row.sealed)?;
    let step =
        totp::matching_step(&secret, code, now, row.last_step).ok_or(TotpError::WrongCode)?;
    let codes = totp::new_recovery_codes()?;
    let hashes: Vec<[u8; 32]> = codes
        .iter()
        .filter_map(|c| totp::recovery_hash(c))
        .collect();
    if !store::enable(c, user_id, step, &hashes)? {
        return Err(TotpError::AlreadyEnabled);
    }
    Ok(codes)
}
