//! SQL on `totp_secrets`, `totp_recovery_codes` and `login_challenges`.
//! Secrets arrive sealed, codes and challenges hashed (see `auth::totp`);
//! times are Unix seconds, steps RFC 6238's 30-second counters.

use super::DbError;
use postgres::GenericClient;

/// A user's stored second factor.
pub struct SecretRow {
    pub sealed: Vec<u8>,
    /// False between enrolment's start and its confirmation.
    pub enabled: bool,
    /// The last step whose code was accepted.
    pub last_step: i64,
}

/// What a login's challenge waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A code (or a recovery code) of the user's enabled secret.
    Code,
    /// A role that requires TOTP: enrolment first, then its first code.
    Enrol,
}

impl Purpose {
    const fn as_str(self) -> &'static str {
        match self {
            Purpose::Code => "totp",
            Purpose::Enrol => "enrol",
        }
    }
}

pub struct ChallengeRow {
    pub user_id: i32,
    pub purpose: Purpose,
}

pub fn secret(c: &mut impl GenericClient, user_id: i32) -> Result<Option<SecretRow>, DbError> {
    let row = c.query_opt(
        "SELECT sealed_secret, enabled, last_step FROM totp_secrets WHERE user_id = $1",
        &[&user_id],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SecretRow {
        sealed: row.try_get("sealed_secret")?,
        enabled: row.try_get("enabled")?,
        last_step: row.try_get("last_step")?,
    }))
}

/// Whether the user has TOTP turned on (confirmed).
/// (Asked at every login, so it reads one flag and not the secret.)
pub fn enabled(c: &mut impl GenericClient, user_id: i32) -> Result<bool, DbError> {
    let row = c.query_opt(
        "SELECT enabled FROM totp_secrets WHERE user_id = $1",
        &[&user_id],
    )?;
    row.map_or(Ok(false), |r| r.try_get(0).map_err(DbError::from))
}

/// Stores a new, not yet confirmed secret, replacing an unconfirmed one;
/// `false` (nothing stored) when TOTP is already on.
pub fn start(
    c: &mut impl GenericClient,
    user_id: i32,
    sealed: &[u8],
    now: i64,
) -> Result<bool, DbError> {
    let n = c.execute(
        "INSERT INTO totp_secrets (user_id, sealed_secret, enabled, last_step, created_at)
         VALUES ($1, $2, FALSE, 0, $3)
         ON CONFLICT (user_id) DO UPDATE
         SET sealed_secret = EXCLUDED.sealed_secret, last_step = 0, created_at = EXCLUDED.created_at
         WHERE NOT totp_secrets.enabled",
        &[&user_id, &sealed, &now],
    )?;
    Ok(n == 1)
}

/// Records `step` as used if no later or equal step was: the one statement
/// that makes a code single-use, even under concurrent logins.
pub fn use_step(c: &mut impl GenericClient, user_id: i32, step: i64) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE totp_secrets SET last_step = $2
         WHERE user_id = $1 AND enabled AND last_step < $2",
        &[&user_id, &step],
    )?;
    Ok(n == 1)
}

/// Turns a confirmed secret on, its code's `step` used, with a new set of
/// recovery codes; `false` if it was on already or the step was used.
pub fn enable(
    c: &mut impl GenericClient,
    user_id: i32,
    step: i64,
    code_hashes: &[[u8; 32]],
) -> Result<bool, DbError> {
    let n = c.execute(
        "UPDATE totp_secrets SET enabled = TRUE, last_step = $2
         WHERE user_id = $1 AND NOT enabled AND last_step < $2",
        &[&user_id, &step],
    )?;
    if n != 1 {
        return Ok(false);
    }
    c.execute(
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        &[&user_id],
    )?;
    for hash in code_hashes {
        c.execute(
            "INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            &[&user_id, &hash.as_slice()],
        )?;
    }
    Ok(true)
}

/// Removes the user's secret and recovery codes; whether there was a secret.
pub fn remove(c: &mut impl GenericClient, user_id: i32) -> Result<bool, DbError> {
    c.execute(
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        &[&user_id],
    )?;
    Ok(c.execute("DELETE FROM totp_secrets WHERE user_id = $1", &[&user_id])? > 0)
}

/// Uses up a recovery code: whether it was one of the user's.
pub fn take_recovery_code(
    c: &mut impl GenericClient,
    user_id: i32,
    code_hash: &[u8],
) -> Result<bool, DbError> {
    let n = c.execute(
        "DELETE FROM totp_recovery_codes WHERE user_id = $1 AND code_hash = $2",
        &[&user_id, &code_hash],
    )?;
    Ok(n == 1)
}

pub fn recovery_codes_left(c: &mut impl GenericClient, user_id: i32) -> Result<i64, DbError> {
    let row = c.query_one(
        "SELECT count(*) FROM totp_recovery_codes WHERE user_id = $1",
        &[&user_id],
    )?;
    Ok(row.try_get(0)?)
}

/// Stores a challenge, and drops every expired one on the way (this is
/// their sweep: challenges are made only by logins).
pub fn insert_challenge(
    c: &mut impl GenericClient,
    challenge_hash: &[u8],
    user_id: i32,
    purpose: Purpose,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    c.execute(
        "DELETE FROM login_challenges WHERE expires_at <= $1",
        &[&now],
    )?;
    c.execute(
        "INSERT INTO login_challenges (challenge_hash, user_id, purpose, expires_at)
         VALUES ($1, $2, $3, $4)",
        &[&challenge_hash, &user_id, &purpose.as_str(), &expires_at],
    )?;
    Ok(())
}

/// The live challenge with this hash, locked for the caller's transaction.
pub fn challenge(
    c: &mut impl GenericClient,
    challenge_hash: &[u8],
    now: i64,
) -> Result<Option<ChallengeRow>, DbError> {
    let row = c.query_opt(
        "SELECT user_id, purpose FROM login_challenges
         WHERE challenge_hash = $1 AND expires_at > $2 FOR UPDATE",
        &[&challenge_hash, &now],
    )?;
    let Some(row) = row else { return Ok(None) };
    let purpose: String = row.try_get("purpose")?;
    Ok(Some(ChallengeRow {
        user_id: row.try_get("user_id")?,
        purpose: if purpose == Purpose::Enrol.as_str() {
            Purpose::Enrol
        } else {
            Purpose::Code
        },
    }))
}

/// Counts a wrong code against a challenge and deletes it at `max`;
/// whether it is still alive.
pub fn challenge_failed(
    c: &mut impl GenericClient,
    challenge_hash: &[u8],
    max: i32,
) -> Result<bool, DbError> {
    let row = c.query_opt(
        "UPDATE login_challenges SET failures = failures + 1
         WHERE challenge_hash = $1 RETURNING failures",
        &[&challenge_hash],
    )?;
    let failures: i32 = match row {
        Some(row) => row.try_get(0)?,
        None => return Ok(false),
    };
    if failures < max {
        return Ok(true);
    }
    take_challenge(c, challenge_hash)?;
    Ok(false)
}

/// Deletes a challenge: whether it was there (so it is used once).
pub fn take_challenge(c: &mut impl GenericClient, challenge_hash: &[u8]) -> Result<bool, DbError> {
    Ok(c.execute(
        "DELETE FROM login_challenges WHERE challenge_hash = $1",
        &[&challenge_hash],
    )? > 0)
}

/// Ends the user's challenges (their second factor was reset or changed).
pub fn drop_challenges(c: &mut impl GenericClient, user_id: i32) -> Result<(), DbError> {
    c.execute(
        "DELETE FROM login_challenges WHERE user_id = $1",
        &[&user_id],
    )?;
    Ok(())
}
