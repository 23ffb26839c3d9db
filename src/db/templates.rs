//! SQL on the `templates` table, and the rule for template names.

use super::DbError;
use postgres::GenericClient;

/// A template name: 1 to 100 of `A-Z a-z 0-9 . _ -`. Only names that pass
/// reach SQL, and the table's check constraint repeats the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateName(String);

impl TemplateName {
    pub fn parse(text: &str) -> Option<TemplateName> {
        let ok = (1..=100).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b));
        ok.then(|| TemplateName(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct Template {
    /// The module that stored it.
    pub owner: String,
    pub body: String,
    pub updated_at: i64,
}

/// What became of a `put`.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    Saved,
    /// Another module owns this name; nothing changed.
    OwnedByAnother,
    /// The module owns `max_per_owner` templates already.
    TooMany,
}

/// Class of the advisory lock on a module's templates (the two-key form;
/// `users.rs` uses another class).
const OWNER_LOCK_CLASS: i32 = 0x7E3;

pub fn get(c: &mut impl GenericClient, name: &TemplateName) -> Result<Option<Template>, DbError> {
    let row = c.query_opt(
        "SELECT owner, body, updated_at FROM templates WHERE name = $1",
        &[&name.as_str()],
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Template {
        owner: row.try_get("owner")?,
        body: row.try_get("body")?,
        updated_at: row.try_get("updated_at")?,
    }))
}

/// Stores `body` under `name` for `owner`: overwrites the owner's own
/// template, refuses another's, and creates a new one while the owner has
/// fewer than `max_per_owner`. The owner's lock makes the count exact when
/// one module stores from several connections at once.
pub fn put(
    c: &mut impl GenericClient,
    name: &TemplateName,
    owner: &str,
    body: &str,
    now: i64,
    max_per_owner: i64,
) -> Result<Stored, DbError> {
    let mut tx = c.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&OWNER_LOCK_CLASS, &owner],
    )?;
    let updated = tx.execute(
        "UPDATE templates SET body = $3, updated_at = $4 WHERE name = $1 AND owner = $2",
        &[&name.as_str(), &owner, &body, &now],
    )?;
    if updated == 1 {
        tx.commit()?;
        return Ok(Stored::Saved);
    }
    let taken = tx.query_opt("SELECT 1 FROM templates WHERE name = $1", &[&name.as_str()])?;
    if taken.is_some() {
        return Ok(Stored::OwnedByAnother);
    }
    let count: i64 = tx
        .query_one("SELECT count(*) FROM templates WHERE owner = $1", &[&owner])?
        .try_get(0)?;
    if count >= max_per_owner {
        return Ok(Stored::TooMany);
    }
    // Another module may have taken the name since the check above: it
    // holds its own lock, not ours.
    let inserted = tx.execute(
        "INSERT INTO templates (name, owner, body, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING",
        &[&name.as_str(), &owner, &body, &now],
    )?;
    tx.commit()?;
    Ok(if inserted == 1 {
        Stored::Saved
    } else {
        Stored::OwnedByAnother
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names() {
        for good in ["a", "page.html", "Main_Page-2.v1", &"x".repeat(100)] {
            assert!(TemplateName::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            &"x".repeat(101),
            "a b",
            "../etc",
            "a/b",
            "caf\u{e9}",
            "a\0",
            "name;drop",
        ] {
            assert!(TemplateName::parse(bad).is_none(), "{bad:?}");
        }
    }
}
