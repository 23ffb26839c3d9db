//! The schema: numbered SQL files from `sql/`, embedded in the binary and
//! applied once each, in order, recorded in `schema_version`. Every step is
//! additive, so a database made by the original platform is upgraded in place.

use super::{Conn, DbError};

/// `(version, name, sql)`; append new steps, never edit applied ones.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "original_tables",
        include_str!("../../sql/001_original_tables.sql"),
    ),
    (2, "sessions", include_str!("../../sql/002_sessions.sql")),
    (
        3,
        "unique_names",
        include_str!("../../sql/003_unique_names.sql"),
    ),
    (
        4,
        "password_resets",
        include_str!("../../sql/004_password_resets.sql"),
    ),
    (5, "name_keys", include_str!("../../sql/005_name_keys.sql")),
    (
        6,
        "module_registrations",
        include_str!("../../sql/006_module_registrations.sql"),
    ),
    (7, "templates", include_str!("../../sql/007_templates.sql")),
    (8, "audit", include_str!("../../sql/008_audit.sql")),
    (
        9,
        "session_details",
        include_str!("../../sql/009_session_details.sql"),
    ),
    (11, "totp", include_str!("../../sql/011_totp.sql")),
    (
        10,
        "attempt_limits",
        include_str!("../../sql/010_attempt_limits.sql"),
    ),
    (
        12,
        "email_verification",
        include_str!("../../sql/012_email_verification.sql"),
    ),
    (13, "cluster", include_str!("../../sql/013_cluster.sql")),
    (
        14,
        "replay_keys",
        include_str!("../../sql/014_replay_keys.sql"),
    ),
];

/// Arbitrary key of the advisory lock that serialises concurrent start-ups.
const LOCK_KEY: i64 = 0x55E_5CEE;

/// Applies the steps this database lacks; returns how many ran.
pub fn migrate(conn: &mut Conn) -> Result<usize, DbError> {
    let mut tx = conn.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let mut applied = 0;
    for &(version, name, sql) in MIGRATIONS {
        let done = tx.query_opt(
            "SELECT 1 FROM schema_version WHERE version = $1",
            &[&version],
        )?;
        if done.is_some() {
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )?;
        log::info!("applied schema step {version} ({name})");
        applied += 1;
    }
    tx.commit()?;
    Ok(applied)
}
