//! SQL on the `module_registrations` table: each module's last
//! `module_start`, read back when it reconnects without one.

use super::DbError;
use postgres::GenericClient;

pub struct Registration {
    pub port: u16,
    pub url: Option<String>,
}

pub fn save(
    c: &mut impl GenericClient,
    module: &str,
    port: u16,
    url: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    c.execute(
        "INSERT INTO module_registrations (module, port, url, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (module) DO UPDATE SET port = $2, url = $3, updated_at = $4",
        &[&module, &i32::from(port), &url, &now],
    )?;
    Ok(())
}

/// The last registration of `module`; `None` if it never registered (or a
/// stored port is not a port, which only a hand-edited row could hold).
pub fn find(c: &mut impl GenericClient, module: &str) -> Result<Option<Registration>, DbError> {
    let Some(row) = c.query_opt(
        "SELECT port, url FROM module_registrations WHERE module = $1",
        &[&module],
    )?
    else {
        return Ok(None);
    };
    let port: i32 = row.try_get("port")?;
    let Ok(port) = u16::try_from(port) else {
        return Ok(None);
    };
    Ok(Some(Registration {
        port,
        url: row.try_get("url")?,
    }))
}
