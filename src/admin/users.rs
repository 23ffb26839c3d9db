//! `sse-platform user ...`.

use super::{one_user, password, Error, Output};
use crate::audit::{self, Actor, Entry};
use crate::auth::ended::EndReason;
use crate::auth::password::Passwords;
use crate::cli::NewUser;
use crate::config::Config;
use crate::db::notify::{announce, Change};
use crate::db::users::{self, CreateError, Role, User};
use crate::db::{sessions as sql, Db};
use crate::http::{user_json, validate};
use serde_json::{json, Value};

fn user_line(user: &User) -> String {
    let google = if user.google_user { "  (Google)" } else { "" };
    format!(
        "{:>6}  {:<24} {:<8} {}{google}",
        user.id, user.name, user.role, user.email
    )
}

fn parse_role(word: &str) -> Result<Role, Error> {
    word.parse().map_err(|_| Error::BadRole(word.to_owned()))
}

pub fn list(db: &Db) -> Result<Output, Error> {
    let list = users::list(&mut *db.conn()?)?;
    let mut text = format!("{:>6}  {:<24} {:<8} email", "id", "name", "role");
    for user in &list {
        text.push('\n');
        text.push_str(&user_line(user));
    }
    let json = Value::Array(list.iter().map(user_json).collect());
    Ok(Output { text, json })
}

pub fn show(db: &Db, name: &str) -> Result<Output, Error> {
    let mut conn = db.conn()?;
    let user = one_user(&mut *conn, name)?;
    let sessions = sql::list(&mut *conn, Some(user.id))?.len();
    let text = format!(
        "id:       {}\nname:     {}\nemail:    {}\nrole:     {}\nsign-in:  {}\nsessions: {sessions}",
        user.id,
        user.name,
        user.email,
        user.role,
        if user.google_user { "Google" } else { "password" },
    );
    let mut json = user_json(&user);
    json["sessions"] = json!(sessions);
    Ok(Output { text, json })
}

/// Checks as registration does, then creates the account.
pub fn add(db: &Db, config: &Config, new: &NewUser) -> Result<Output, Error> {
    let role = match &new.role {
        Some(word) => parse_role(word)?,
        None => Role::Guest,
    };
    let email = new.email.trim();
    let refused = |e: crate::http::error::ApiError| Error::Invalid(e.reason);
    validate::email(email).map_err(refused)?;
    validate::nickname(&new.name).map_err(refused)?;
    let password = password::read(&new.name, new.password_stdin)?;
    validate::new_password(&password).map_err(refused)?;
    let hash = Passwords::new(config.bcrypt_cost)?.hash(&password)?;
    let created = users::create_with_password(&mut *db.conn()?, email, &new.name, &hash, role);
    let user = created.map_err(|e| match e {
        CreateError::EmailTaken => Error::EmailTaken,
        CreateError::NameTaken => Error::NameTaken,
        CreateError::Db(e) => Error::Db(e),
    })?;
    record(&mut *db.conn()?, "user_created", user.id)?;
    let text = format!(
        "created user '{}' (id {}, {})",
        user.name, user.id, user.role
    );
    Ok(Output {
        text,
        json: user_json(&user),
    })
}

/// Sets the role; a running server applies it to the user's sessions and
/// tells the modules (`user_role_change`).
pub fn set_role(db: &Db, name: &str, role: &str) -> Result<Output, Error> {
    let role = parse_role(role)?;
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    let ids = users::set_role(&mut tx, name, role)?;
    if ids.is_empty() {
        return Err(Error::NoUser(name.to_owned()));
    }
    for &user_id in &ids {
        announce(&mut tx, &Change::RoleChanged { user_id })?;
        record(&mut tx, "role_change", user_id)?;
    }
    tx.commit()?;
    Ok(Output {
        text: format!("role of '{name}' set to {role}"),
        json: json!({"name": name, "role": role.as_str(), "ids": ids}),
    })
}

/// Deletes the account and its sessions, as the web's account deletion
/// does: modules hear `session_ended` for each, then `user_delete`.
pub fn delete(db: &Db, name: &str) -> Result<Output, Error> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    let user = one_user(&mut tx, name)?;
    let n = super::sessions::end_all(&mut tx, user.id, EndReason::AccountDeleted)?;
    users::delete(&mut tx, user.id)?;
    announce(&mut tx, &Change::UserDeleted { user_id: user.id })?;
    record(&mut tx, "account_deleted", user.id)?;
    tx.commit()?;
    Ok(Output {
        text: format!("deleted user '{name}' (id {}, {n} sessions ended)", user.id),
        json: json!({"deleted": user_json(&user), "sessions_ended": n}),
    })
}

/// A one-time link to set a new password, made as the forgot-password
/// mail makes it (`auth::reset::issue`, `public_url`, `reset_ttl_seconds`).
pub fn reset_link(db: &Db, config: &Config, name: &str) -> Result<Output, Error> {
    let user = one_user(&mut *db.conn()?, name)?;
    if user.google_user {
        return Err(Error::NoPassword(name.to_owned()));
    }
    let (phrase, expires_at) = crate::auth::reset::issue(db, user.id, config.reset.ttl)?;
    record(&mut *db.conn()?, "reset_link_issued", user.id)?;
    let link = format!("{}/forgot_password?phrase={phrase}", config.public_url());
    Ok(Output {
        text: link.clone(),
        json: json!({"name": name, "link": link, "expires_at": expires_at}),
    })
}

/// The audit entry of a command-line change to `user_id`, written on `c`
/// (inside the change's transaction where there is one).
pub(super) fn record(
    c: &mut impl postgres::GenericClient,
    action: &'static str,
    user_id: i32,
) -> Result<(), Error> {
    let entry = Entry::new(Actor::Cli, action).target(format!("user:{user_id}"));
    Ok(audit::write_now(c, vec![entry])?)
}
