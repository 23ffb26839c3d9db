//! SQL on the `users` table.

use super::DbError;
use postgres::{GenericClient, Row};

/// An account as the rest of the platform sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub email: String,
    pub role: String,
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
        // The original wrote NULL roles on some paths; they act as guest.
        role: role.unwrap_or_else(|| "guest".into()),
        google_user: google.unwrap_or(false),
    })
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

/// Inserts an account; a taken email or nickname is `DbError::Duplicate`.
pub fn insert(
    c: &mut impl GenericClient,
    email: &str,
    name: &str,
    hashed_password: Option<&str>,
    role: &str,
    google_user: bool,
) -> Result<User, DbError> {
    let sql = format!(
        "INSERT INTO users (email, name, hashed_password, role, google_user)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    let row = c.query_one(
        &sql,
        &[&email, &name, &hashed_password, &role, &google_user],
    )?;
    Ok(credentials(&row)?.user)
}

pub fn set_password(c: &mut impl GenericClient, id: i32, hash: &str) -> Result<(), DbError> {
    c.execute(
        "UPDATE users SET hashed_password = $2 WHERE id = $1",
        &[&id, &hash],
    )?;
    Ok(())
}

/// Sets the role of every account named `name`; returns their ids.
pub fn set_role(c: &mut impl GenericClient, name: &str, role: &str) -> Result<Vec<i32>, DbError> {
    let rows = c.query(
        "UPDATE users SET role = $2 WHERE name = $1 RETURNING id",
        &[&name, &role],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Deletes an account; its sessions go with it (ON DELETE CASCADE).
pub fn delete(c: &mut impl GenericClient, id: i32) -> Result<bool, DbError> {
    Ok(c.execute("DELETE FROM users WHERE id = $1", &[&id])? > 0)
}
