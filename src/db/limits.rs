//! SQL on the `attempt_limits` table (see sql/010_attempt_limits.sql and
//! `auth::limiter`). Times are Unix milliseconds and come from the caller,
//! so that every process on the database, and the tests, decide windows by
//! the time they pass in. Each function is one statement: a check is one
//! SELECT, a counted failure one upsert, an attempt one upsert that counts
//! only while the limit is not used up (atomic under concurrent attempts:
//! `ON CONFLICT DO UPDATE` locks the row and re-reads it).

use super::DbError;
use postgres::GenericClient;

/// One limit's row: how many events in the window that ends at `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRow {
    pub name: String,
    pub key: String,
    pub count: i32,
    pub ends_at: i64,
}

/// The rows of these `(name, key)` pairs (`names[i]` with `keys[i]`).
pub fn find(
    c: &mut impl GenericClient,
    names: &[&str],
    keys: &[&str],
) -> Result<Vec<LimitRow>, DbError> {
    let rows = c.query(
        "SELECT name, key, count, ends_at FROM attempt_limits
         WHERE (name, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        &[&names, &keys],
    )?;
    rows.iter().map(limit_row).collect()
}

fn limit_row(r: &postgres::Row) -> Result<LimitRow, DbError> {
    Ok(LimitRow {
        name: r.try_get("name")?,
        key: r.try_get("key")?,
        count: r.try_get("count")?,
        ends_at: r.try_get("ends_at")?,
    })
}

/// What an upsert sets on an existing row: a window that ended at `now`
/// starts again with this event (and the new row's end), otherwise the
/// event is added. The count stops short of overflowing.
const BUMP: &str = "SET count = CASE WHEN l.ends_at <= $now THEN 1
                                ELSE LEAST(l.count, 2147483646) + 1 END,
        ends_at = CASE WHEN l.ends_at <= $now THEN EXCLUDED.ends_at ELSE l.ends_at END";

/// Counts one event for each `(names[i], keys[i])`, a new window ending at
/// `ends[i]`. The pairs must be distinct (one statement cannot update a
/// row twice); callers sort them, so that concurrent counts lock rows in
/// one order.
pub fn count(
    c: &mut impl GenericClient,
    names: &[&str],
    keys: &[&str],
    ends: &[i64],
    now: i64,
) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO attempt_limits AS l (name, key, count, ends_at)
         SELECT name, key, 1, ends_at FROM unnest($1::text[], $2::text[], $3::bigint[])
             AS n(name, key, ends_at)
         ON CONFLICT (name, key) DO UPDATE {}",
        BUMP.replace("$now", "$4")
    );
    c.execute(&sql, &[&names, &keys, &ends, &now])?;
    Ok(())
}

/// Counts an event for `(name, key)` unless `max` are counted in a window
/// still open at `now`: `Ok(None)` when counted, `Ok(Some(ends_at))` when
/// refused (the window's end, as far as this statement's snapshot saw it).
pub fn attempt(
    c: &mut impl GenericClient,
    name: &str,
    key: &str,
    ends_at: i64,
    now: i64,
    max: i32,
) -> Result<Option<i64>, DbError> {
    let sql = format!(
        "WITH counted AS (
             INSERT INTO attempt_limits AS l (name, key, count, ends_at)
             VALUES ($1, $2, 1, $3)
             ON CONFLICT (name, key) DO UPDATE {}
             WHERE l.ends_at <= $4 OR l.count < $5
             RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM counted) AS counted,
                (SELECT ends_at FROM attempt_limits WHERE name = $1 AND key = $2) AS ends_at",
        BUMP.replace("$now", "$4")
    );
    let row = c.query_one(&sql, &[&name, &key, &ends_at, &now, &max])?;
    if row.try_get::<_, bool>("counted")? {
        return Ok(None);
    }
    // A row inserted concurrently, after this snapshot: its window is new.
    let seen: Option<i64> = row.try_get("ends_at")?;
    Ok(Some(seen.unwrap_or(ends_at)))
}

/// Deletes the rows of these `(name, key)` pairs; how many there were.
pub fn delete(c: &mut impl GenericClient, names: &[&str], keys: &[&str]) -> Result<u64, DbError> {
    Ok(c.execute(
        "DELETE FROM attempt_limits
         WHERE (name, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        &[&names, &keys],
    )?)
}

/// Deletes the rows of limits `names` whose key is one of `keys`, and the
/// rows of limit `pair` whose key is `<address>|<one of keys>` for any
/// address (an address never holds a `|`); how many there were.
pub fn delete_accounts(
    c: &mut impl GenericClient,
    names: &[&str],
    pair: &str,
    keys: &[&str],
) -> Result<u64, DbError> {
    Ok(c.execute(
        "DELETE FROM attempt_limits
         WHERE (name = ANY($1) AND key = ANY($3))
            OR (name = $2 AND substr(key, strpos(key, '|') + 1) = ANY($3))",
        &[&names, &pair, &keys],
    )?)
}

/// The rows, open at `now`, of limits `names` whose key is one of `keys`,
/// and of limit `pair` whose key ends in `|<one of keys>`.
pub fn of_accounts(
    c: &mut impl GenericClient,
    names: &[&str],
    pair: &str,
    keys: &[&str],
    now: i64,
) -> Result<Vec<LimitRow>, DbError> {
    let rows = c.query(
        "SELECT name, key, count, ends_at FROM attempt_limits
         WHERE ends_at > $4
           AND ((name = ANY($1) AND key = ANY($3))
             OR (name = $2 AND substr(key, strpos(key, '|') + 1) = ANY($3)))",
        &[&names, &pair, &keys, &now],
    )?;
    rows.iter().map(limit_row).collect()
}

/// Deletes every row whose window ended by `now` (the janitor's sweep).
pub fn prune(c: &mut impl GenericClient, now: i64) -> Result<u64, DbError> {
    Ok(c.execute("DELETE FROM attempt_limits WHERE ends_at <= $1", &[&now])?)
}
