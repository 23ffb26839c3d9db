//! SQL on `audit_events`: batched inserts, the admins' query, pruning.
//! Times are Unix milliseconds here and `TIMESTAMPTZ` in the table, so
//! that an admin reading it with psql sees dates.

use super::DbError;
use postgres::GenericClient;

/// One event as stored. The audit layer builds these from its typed
/// values; nothing here knows what the words mean.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub address: Option<String>,
    pub outcome: String,
}

/// A stored event with its id, the key that `before` pages by.
#[derive(Clone, Debug)]
pub struct Stored {
    pub id: i64,
    pub event: Event,
}

/// Which events a query wants, newest first.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub limit: i64,
    /// Only events older than this id.
    pub before: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// Writes `events` in one statement (one round trip for a whole batch).
pub fn insert(c: &mut impl GenericClient, events: &[Event]) -> Result<u64, DbError> {
    let column = |f: fn(&Event) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let at: Vec<f64> = events.iter().map(|e| e.at_ms as f64 / 1000.0).collect();
    let n = c.execute(
        "INSERT INTO audit_events (at, actor, action, target, address, outcome)
         SELECT to_timestamp(t), a, b, c, d, e
         FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
              AS x(t, a, b, c, d, e)",
        &[
            &at,
            &column(|e| Some(e.actor.clone())),
            &column(|e| Some(e.action.clone())),
            &column(|e| e.target.clone()),
            &column(|e| e.address.clone()),
            &column(|e| Some(e.outcome.clone())),
        ],
    )?;
    Ok(n)
}

/// The events `filter` asks for, newest first.
pub fn list(c: &mut impl GenericClient, filter: &Filter) -> Result<Vec<Stored>, DbError> {
    let rows = c.query(
        "SELECT id, (extract(epoch FROM at) * 1000)::bigint AS at_ms,
                actor, action, target, address, outcome
         FROM audit_events
         WHERE ($2::bigint IS NULL OR id < $2)
           AND ($3::text IS NULL OR actor = $3)
           AND ($4::text IS NULL OR action = $4)
         ORDER BY id DESC LIMIT $1",
        &[&filter.limit, &filter.before, &filter.actor, &filter.action],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Stored {
                id: r.try_get("id")?,
                event: Event {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    address: r.try_get("address")?,
                    outcome: r.try_get("outcome")?,
                },
            })
        })
        .collect()
}

/// Deletes events older than `days` days; returns how many went.
pub fn prune(c: &mut impl GenericClient, days: i64) -> Result<u64, DbError> {
    Ok(c.execute(
        "DELETE FROM audit_events WHERE at < now() - make_interval(days => $1::int)",
        &[&(days as i32)],
    )?)
}
