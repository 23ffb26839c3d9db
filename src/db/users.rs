//! SQL on the `users` table.

use super::DbError;
use crate::names;
use postgres::types::ToSql;
use postgres::{GenericClient, Row, Transaction};
use std::fmt;
use std::str::FromStr;

/// What an account may do. Parsed once where it comes in (a request's
/// parameter, a row); written back as the same lower-case words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Guest,
    Parent,
    Teacher,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Parent => "parent",
            Role::Teacher => "teacher",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not one of the four roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole;

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected guest, parent, teacher or admin")
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        [Role::Guest, Role::Parent, Role::Teacher, Role::Admin]
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// An account as the rest of the platform sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub google_user: bool,
}

/// An account with its password hash (absent for Google accounts).
pub struct Credentials {
    pub user: User,
    pub hashed_password: Option<String>,
}

const COLUMNS: &str = "id, name, email, role, google_user, hashed_password";

/// Reads the `id, name, email, role, google_user` columns of a row.
pub(super) fn user_from_row(row: &Row) -> Result<User, DbError> {
    let role: Option<String> = row.try_get("role")?;
    let google: Option<bool> = row.try_get("google_user")?;
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        // The original wrote NULL roles on some paths; they act as guest, as
        // does a word that is none of the four (only ours write this column).
        role: role.and_then(|r| r.parse().ok()).unwrap_or(Role::Guest),
        google_user: google.unwrap_or(false),
    })
}

impl Credentials {
    /// The stored bcrypt hash; `None` for an account without a password
    /// (a Google account: NULL, or empty as the original wrote it).
    pub fn password_hash(&self) -> Option<&str> {
        self.hashed_password.as_deref().filter(|h| !h.is_empty())
    }
}

fn credentials(row: &Row) -> Result<Credentials, DbError> {
    Ok(Credentials {
        user: user_from_row(row)?,
        hashed_password: row.try_get("hashed_password")?,
    })
}

fn many(rows: Vec<Row>) -> Result<Vec<Credentials>, DbError> {
    rows.iter().map(credentials).collect()
}

/// Accounts whose email matches, ignoring case (at most two are read: one
/// is an answer, two make the login ambiguous).
pub fn by_email(c: &mut impl GenericClient, email: &str) -> Result<Vec<Credentials>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1) ORDER BY id LIMIT 2");
    many(c.query(&sql, &[&email])?)
}

/// Accounts whose nickname matches exactly (at most two, as above).
pub fn by_name(c: &mut impl GenericClient, name: &str) -> Result<Vec<Credentials>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE name = $1 ORDER BY id LIMIT 2");
    many(c.query(&sql, &[&name])?)
}

/// Whether an account has this nickname or a look-alike of it.
pub fn name_taken(c: &mut impl GenericClient, name: &str) -> Result<bool, DbError> {
    let keys = names::keys(name);
    let row = c.query_opt(
        "SELECT 1 FROM users WHERE name = $1 OR name_key = $2 OR name_skeleton = $3 LIMIT 1",
        &[&name, &keys.folded, &keys.skeleton],
    )?;
    Ok(row.is_some())
}

pub fn by_id(c: &mut impl GenericClient, id: i32) -> Result<Option<Credentials>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    c.query_opt(&sql, &[&id])?
        .as_ref()
        .map(credentials)
        .transpose()
}

pub fn list(c: &mut impl GenericClient) -> Result<Vec<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY id");
    Ok(many(c.query(&sql, &[])?)?
        .into_iter()
        .map(|c| c.user)
        .collect())
}

/// Every account with its last login (Unix seconds; `None` before the
/// first, or before `last_login` was recorded), for the administrators.
pub fn list_with_last_login(
    c: &mut impl GenericClient,
) -> Result<Vec<(User, Option<i64>)>, DbError> {
    let sql = format!("SELECT {COLUMNS}, last_login FROM users ORDER BY id");
    c.query(&sql, &[])?
        .iter()
        .map(|row| Ok((user_from_row(row)?, row.try_get("last_login")?)))
        .collect()
}

/// An account to create: its sign-in decides the rest of the row (a
/// Google account has no password and is flagged as such).
struct NewUser<'a> {
    email: &'a str,
    name: &'a str,
    hashed_password: Option<&'a str>,
    role: Role,
    google_user: bool,
}

/// Why an account was not created.
#[derive(Debug)]
pub enum CreateError {
    /// An account has this email, ignoring case.
    EmailTaken,
    /// An account has this nickname or a look-alike of it (`crate::names`).
    NameTaken,
    Db(DbError),
}

impl From<DbError> for CreateError {
    fn from(e: DbError) -> Self {
        CreateError::Db(e)
    }
}

impl From<postgres::Error> for CreateError {
    fn from(e: postgres::Error) -> Self {
        CreateError::Db(e.into())
    }
}

/// Class of the advisory locks taken on names and emails (the two-key
/// form, which does not overlap the migrations' one-key lock).
const NAME_LOCK_CLASS: i32 = 0x55E;

/// Creates an account that signs in with a password (`hash` is its bcrypt
/// hash); see [`create`] for what refuses it.
pub fn create_with_password(
    c: &mut impl GenericClient,
    email: &str,
    name: &str,
    hash: &str,
    role: Role,
) -> Result<User, CreateError> {
    let new = NewUser {
        email,
        name,
        hashed_password: Some(hash),
        role,
        google_user: false,
    };
    create(c, &new)
}

/// Creates a guest account that signs in with Google (no password).
pub fn create_google(
    c: &mut impl GenericClient,
    email: &str,
    name: &str,
) -> Result<User, CreateError> {
    let new = NewUser {
        email,
        name,
        hashed_password: None,
        role: Role::Guest,
        google_user: true,
    };
    create(c, &new)
}

/// Creates an account unless its email (ignoring case) or a look-alike of
/// its nickname is taken. Neither is a unique index (a database made by the
/// original may hold duplicates), so the check and the insert run in one
/// transaction holding advisory locks on the email and on both name keys:
/// two concurrent look-alikes meet at a lock, and the second sees the first.
fn create(c: &mut impl GenericClient, new: &NewUser) -> Result<User, CreateError> {
    let keys = names::keys(new.name);
    let email = new.email.to_lowercase();
    let mut tx = c.transaction()?;
    lock(
        &mut tx,
        &[&format!("email:{email}"), &keys.folded, &keys.skeleton],
    )?;
    let email_taken = tx.query_opt(
        "SELECT 1 FROM users WHERE lower(email) = lower($1) LIMIT 1",
        &[&new.email],
    )?;
    if email_taken.is_some() {
        return Err(CreateError::EmailTaken);
    }
    if name_taken(&mut tx, new.name)? {
        return Err(CreateError::NameTaken);
    }
    let sql = format!(
        "INSERT INTO users (email, name, hashed_password, role, google_user, name_key, name_skeleton)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    let params: [&(dyn ToSql + Sync); 7] = [
        &new.email,
        &new.name,
        &new.hashed_password,
        &new.role.as_str(),
        &new.google_user,
        &keys.folded,
        &keys.skeleton,
    ];
    let row = tx
        .query_one(&sql, &params)
        .map_err(|e| match DbError::from(e) {
            // The unique indexes of `sql/003`, if they exist, agree with us.
            DbError::Duplicate { constraint, .. } if constraint.contains("email") => {
                CreateError::EmailTaken
            }
            DbError::Duplicate { .. } => CreateError::NameTaken,
            other => CreateError::Db(other),
        })?;
    let user = credentials(&row)?.user;
    tx.commit()?;
    Ok(user)
}

/// Takes the transaction's advisory locks on `keys`, in one order for
/// every transaction (ascending hash), so that no two wait on each other
/// in a cycle.
fn lock(tx: &mut Transaction, keys: &[&String]) -> Result<(), DbError> {
    let keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
    let row = tx.query_one(
        "SELECT array_agg(DISTINCT hashtext(k) ORDER BY hashtext(k)) FROM unnest($1::text[]) AS k",
        &[&keys],
    )?;
    let hashes: Vec<i32> = row.try_get(0)?;
    for hash in hashes {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[&NAME_LOCK_CLASS, &hash],
        )?;
    }
    Ok(())
}

/// Rows read per round by [`fill_name_keys`].
const FILL_BATCH: i64 = 500;

/// Computes the name keys of rows that lack them (rows written by the
/// original platform, which knows nothing of them) or whose keys other
/// rules made (`names::rules`). Returns how many.
pub fn fill_name_keys(c: &mut impl GenericClient) -> Result<u64, DbError> {
    let rules = names::rules();
    let mut filled = 0;
    loop {
        let rows = c.query(
            "SELECT id, name FROM users
             WHERE name_key IS NULL OR name_skeleton IS NULL
                OR left(name_key, length($2)) <> $2 OR left(name_skeleton, length($2)) <> $2
             ORDER BY id LIMIT $1",
            &[&FILL_BATCH, &rules],
        )?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut tx = c.transaction()?;
        for row in &rows {
            let id: i32 = row.try_get("id")?;
            let name: String = row.try_get("name")?;
            let keys = names::keys(&name);
            filled += tx.execute(
                "UPDATE users SET name_key = $2, name_skeleton = $3 WHERE id = $1",
                &[&id, &keys.folded, &keys.skeleton],
            )?;
        }
        tx.commit()?;
    }
}

pub fn set_password(c: &mut impl GenericClient, id: i32, hash: &str) -> Result<(), DbError> {
    c.execute(
        "UPDATE users SET hashed_password = $2 WHERE id = $1",
        &[&id, &hash],
    )?;
    Ok(())
}

/// Sets the role of every account named `name`; returns their ids.
pub fn set_role(c: &mut impl GenericClient, name: &str, role: Role) -> Result<Vec<i32>, DbError> {
    let rows = c.query(
        "UPDATE users SET role = $2 WHERE name = $1 RETURNING id",
        &[&name, &role.as_str()],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Deletes an account; its sessions go with it (ON DELETE CASCADE).
pub fn delete(c: &mut impl GenericClient, id: i32) -> Result<bool, DbError> {
    Ok(c.execute("DELETE FROM users WHERE id = $1", &[&id])? > 0)
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn roles_read_and_write_the_same_words() {
        for word in ["guest", "parent", "teacher", "admin"] {
            let role: Role = word.parse().unwrap();
            assert_eq!(role.to_string(), word);
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}
