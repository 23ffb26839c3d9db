//! The admin command line (`sse-platform user ...`, `sessions ...`): the
//! same config as the server, working on its database directly, for when
//! the web pages are out of reach.
//!
//! Every change is made in one transaction that also announces it
//! (`db::notify`), so a running server hears it when it commits, updates
//! its session cache and tells the modules as the web paths do
//! (`server::listen`). Each command returns its result as text or JSON
//! (`--json`); every failure is one [`Error`] line.

mod password;
mod sessions;
mod users;

use crate::cli::{Action, AdminArgs};
use crate::config::{Config, ConfigError};
use crate::db::{Db, DbError};
use serde_json::Value;
use std::fmt;

/// What a command prints: a text for people, a JSON value for scripts.
pub struct Output {
    pub text: String,
    pub json: Value,
}

impl Output {
    /// The text, or the JSON on one line with `--json`.
    pub fn render(&self, json: bool) -> String {
        if json {
            self.json.to_string()
        } else {
            self.text.clone()
        }
    }
}

/// Why a command failed; each prints as one line naming the problem.
#[derive(Debug)]
pub enum Error {
    Config(ConfigError),
    Db(DbError),
    /// A name no account has.
    NoUser(String),
    /// Several accounts have this name (databases made by the original).
    AmbiguousUser(String),
    BadRole(String),
    /// An email, name or password the web would refuse, with its reason word.
    Invalid(&'static str),
    EmailTaken,
    NameTaken,
    /// `reset-link` for an account that signs in with Google.
    NoPassword(String),
    /// The password could not be read from stdin.
    Stdin(std::io::Error),
    /// Hashing or random bytes failed.
    Auth(crate::auth::AuthError),
}

impl Error {
    /// 2 for what the caller typed or configured, 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::BadRole(_) | Error::Invalid(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "{e}"),
            Error::Db(e) => write!(f, "{e}"),
            Error::NoUser(name) => write!(f, "no user named '{name}'"),
            Error::AmbiguousUser(name) => write!(
                f,
                "several users are named '{name}'; rename all but one on the web page first"
            ),
            Error::BadRole(role) => {
                write!(f, "bad role '{role}': {}", crate::db::users::UnknownRole)
            }
            Error::Invalid(reason) => write!(f, "refused: {reason}"),
            Error::EmailTaken => f.write_str("refused: email_taken"),
            Error::NameTaken => f.write_str("refused: nickname_taken"),
            Error::NoPassword(name) => write!(
                f,
                "user '{name}' signs in with Google and has no password to reset"
            ),
            Error::Stdin(e) => write!(f, "cannot read the password from stdin: {e}"),
            Error::Auth(e) => write!(f, "{e}"),
        }
    }
}

/// Each variant's text says what it wraps; the causes beneath follow.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => e.source(),
            Error::Db(e) => e.source(),
            Error::Auth(e) => e.source(),
            _ => None,
        }
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        Error::Db(e)
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Db(e.into())
    }
}

impl From<crate::auth::AuthError> for Error {
    fn from(e: crate::auth::AuthError) -> Self {
        match e {
            crate::auth::AuthError::Db(e) => Error::Db(e),
            other => Error::Auth(other),
        }
    }
}

/// Loads the config and runs the command on its database.
pub fn run(args: &AdminArgs) -> Result<Output, Error> {
    let config = Config::load(&args.config).map_err(Error::Config)?;
    // One connection first: if the database is away, its reason is
    // clearer than the pool's time-out.
    crate::db::connect_once(&config.pg)?;
    let db = Db::new(&config.pg);
    match &args.action {
        Action::UserList => users::list(&db),
        Action::UserShow { name } => users::show(&db, name),
        Action::UserAdd(new) => users::add(&db, &config, new),
        Action::UserSetRole { name, role } => users::set_role(&db, name, role),
        Action::UserDelete { name } => users::delete(&db, name),
        Action::UserResetLink { name } => users::reset_link(&db, &config, name),
        Action::SessionsList { user } => sessions::list(&db, user.as_deref()),
        Action::SessionsEnd { user } => sessions::end(&db, user),
    }
}

/// The one account named `name`.
fn one_user(
    c: &mut impl postgres::GenericClient,
    name: &str,
) -> Result<crate::db::users::User, Error> {
    let mut found = crate::db::users::by_name(c, name)?;
    match found.len() {
        0 => Err(Error::NoUser(name.to_owned())),
        1 => Ok(found.remove(0).user),
        _ => Err(Error::AmbiguousUser(name.to_owned())),
    }
}
