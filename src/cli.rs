//! Command line: parsed into plain [`Args`] with no I/O, so that every
//! mistake is reported before anything is read or started.

use std::fmt;
use std::path::PathBuf;

pub const USAGE: &str = "\
sse-platform: accounts, sessions and module hub of the SSE platform

Usage:
  sse-platform -c <config.json> [--dev] [--create_admin]
  sse-platform keygen --name <module> [--out <dir>]
  sse-platform user <list|show|add|set-role|delete|reset-link> -c <config.json> ...
  sse-platform sessions <list|end> -c <config.json> ...
  sse-platform check-config -c <config.json> [--json]
  sse-platform [<command>] --help | --version

Options:
  -c, --config <file>   JSON configuration (see config.example.json)
  --create_admin        create the admin account from the config if absent
                        (also spelled --create-admin)
  --dev                 developer mode: every request counts as an admin's
  -h, --help            print this help
  -V, --version         print the version

The user and sessions commands work on the database directly, for when the
web pages are out of reach; a running server hears each change at once.
";

pub const USER_USAGE: &str = "\
sse-platform user: accounts, on the database the config names

Usage:
  sse-platform user list -c <config.json> [--json]
  sse-platform user show <name> -c <config.json> [--json]
  sse-platform user add --email <email> --name <name> [--role <role>]
                        [--password-stdin] -c <config.json> [--json]
  sse-platform user set-role <name> <role> -c <config.json> [--json]
  sse-platform user delete <name> -c <config.json> [--json]
  sse-platform user reset-link <name> -c <config.json> [--json]

Roles: guest (the default), parent, teacher, admin. `add` reads the password
from stdin (one line; a prompt on a terminal, none with --password-stdin),
never from an argument. `delete` ends the user's sessions first; modules hear
session_ended and user_delete. `reset-link` prints a one-time link to set a
new password, as the forgot-password mail does (the config's public_url).
--json prints JSON instead of text.
";

pub const SESSIONS_USAGE: &str = "\
sse-platform sessions: signed-in sessions, on the database the config names

Usage:
  sse-platform sessions list [--user <name>] -c <config.json> [--json]
  sse-platform sessions end --user <name> -c <config.json> [--json]

Sessions are named by the first 16 hex digits of their token's SHA-256 (the
token itself is never stored). `end` ends every session of the user; the
running server refuses them at once and modules hear session_ended.
--json prints JSON instead of text.
";

pub const CHECK_USAGE: &str = "\
sse-platform check-config: load and check everything the server would

Usage:
  sse-platform check-config -c <config.json> [--json]

Reads the config, the TLS certificate and key, verify_keys.json and the
mail settings, and connects to the database. Prints `ok` (with --json,
{\"ok\": true}) and exits 0, or prints one line naming the problem on
stderr and exits non-zero (2 for the config or keys, 1 for TLS files or
the database).
";

pub const KEYGEN_USAGE: &str = "\
sse-platform keygen: make a module's Ed25519 key pair

Usage:
  sse-platform keygen --name <module> [--out <dir>]

Writes signing_key.key (the private seed, mode 0600) and verify_key.key
into <dir> (default: the current folder) and prints the line to add to the
platform's verify_keys.json.
";

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve(ServeArgs),
    Keygen {
        name: String,
        out: PathBuf,
    },
    /// A `user` or `sessions` command.
    Admin(AdminArgs),
    CheckConfig {
        config: PathBuf,
        json: bool,
    },
    /// Print this help text.
    Help(&'static str),
    Version,
}

/// A `user` or `sessions` command: which, on the database of `config`.
#[derive(Debug, PartialEq, Eq)]
pub struct AdminArgs {
    pub config: PathBuf,
    pub json: bool,
    pub action: Action,
}

/// Roles stay words here: they are parsed where they are used.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    UserList,
    UserShow { name: String },
    UserAdd(NewUser),
    UserSetRole { name: String, role: String },
    UserDelete { name: String },
    UserResetLink { name: String },
    SessionsList { user: Option<String> },
    SessionsEnd { user: String },
}

#[derive(Debug, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Option<String>,
    /// Read the password from stdin without a prompt.
    pub password_stdin: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ServeArgs {
    pub config: PathBuf,
    pub dev: bool,
    pub create_admin: bool,
}

/// A command line that cannot be obeyed; printed as one line.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (try --help)", self.0)
    }
}

impl std::error::Error for CliError {}

impl From<pico_args::Error> for CliError {
    fn from(e: pico_args::Error) -> Self {
        CliError(e.to_string())
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<std::ffi::OsString>) -> Result<Command, CliError> {
    let mut p = pico_args::Arguments::from_vec(args);
    let help = p.contains(["-h", "--help"]);
    if !help && p.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let subcommand = p.subcommand()?;
    if help {
        return help_for(subcommand.as_deref());
    }
    let command = match subcommand.as_deref() {
        Some("keygen") => parse_keygen(&mut p)?,
        Some("user") => parse_user(&mut p)?,
        Some("sessions") => parse_sessions(&mut p)?,
        Some("check-config") => Command::CheckConfig {
            config: config(&mut p)?,
            json: p.contains("--json"),
        },
        Some(other) => return Err(CliError(format!("unknown command '{other}'"))),
        None => parse_serve(&mut p)?,
    };
    let rest = p.finish();
    if let Some(extra) = rest.first() {
        return Err(CliError(format!(
            "unexpected argument '{}'",
            extra.to_string_lossy()
        )));
    }
    Ok(command)
}

fn help_for(subcommand: Option<&str>) -> Result<Command, CliError> {
    Ok(Command::Help(match subcommand {
        None => USAGE,
        Some("keygen") => KEYGEN_USAGE,
        Some("user") => USER_USAGE,
        Some("sessions") => SESSIONS_USAGE,
        Some("check-config") => CHECK_USAGE,
        Some(other) => return Err(CliError(format!("unknown command '{other}'"))),
    }))
}

fn config(p: &mut pico_args::Arguments) -> Result<PathBuf, CliError> {
    let config: Option<PathBuf> = p.opt_value_from_os_str(["-c", "--config"], to_path)?;
    config.ok_or_else(|| CliError("missing -c <config.json>".into()))
}

/// The next free word, which the command needs as `what`.
fn word(p: &mut pico_args::Arguments, what: &str) -> Result<String, CliError> {
    let word: Option<String> = p.opt_free_from_str()?;
    word.ok_or_else(|| CliError(format!("missing {what}")))
}

fn parse_user(p: &mut pico_args::Arguments) -> Result<Command, CliError> {
    let config = config(p)?;
    let json = p.contains("--json");
    let action = match p.subcommand()?.as_deref() {
        Some("list") => Action::UserList,
        Some("show") => Action::UserShow {
            name: word(p, "<name>")?,
        },
        Some("add") => {
            let email: Option<String> = p.opt_value_from_str("--email")?;
            let name: Option<String> = p.opt_value_from_str("--name")?;
            Action::UserAdd(NewUser {
                email: email.ok_or_else(|| CliError("user add needs --email".into()))?,
                name: name.ok_or_else(|| CliError("user add needs --name".into()))?,
                role: p.opt_value_from_str("--role")?,
                password_stdin: p.contains("--password-stdin"),
            })
        }
        Some("set-role") => Action::UserSetRole {
            name: word(p, "<name>")?,
            role: word(p, "<role>")?,
        },
        Some("delete") => Action::UserDelete {
            name: word(p, "<name>")?,
        },
        Some("reset-link") => Action::UserResetLink {
            name: word(p, "<name>")?,
        },
        Some(other) => return Err(CliError(format!("unknown user command '{other}'"))),
        None => return Err(CliError("user needs a command".into())),
    };
    Ok(Command::Admin(AdminArgs {
        config,
        json,
        action,
    }))
}

fn parse_sessions(p: &mut pico_args::Arguments) -> Result<Command, CliError> {
    let config = config(p)?;
    let json = p.contains("--json");
    let user: Option<String> = p.opt_value_from_str("--user")?;
    let action = match p.subcommand()?.as_deref() {
        Some("list") => Action::SessionsList { user },
        Some("end") => Action::SessionsEnd {
            user: user.ok_or_else(|| CliError("sessions end needs --user <name>".into()))?,
        },
        Some(other) => return Err(CliError(format!("unknown sessions command '{other}'"))),
        None => return Err(CliError("sessions needs a command".into())),
    };
    Ok(Command::Admin(AdminArgs {
        config,
        json,
        action,
    }))
}

fn parse_serve(p: &mut pico_args::Arguments) -> Result<Command, CliError> {
    let dev = p.contains("--dev");
    let create_admin = p.contains("--create_admin") | p.contains("--create-admin");
    let config = config(p)?;
    Ok(Command::Serve(ServeArgs {
        config,
        dev,
        create_admin,
    }))
}

fn parse_keygen(p: &mut pico_args::Arguments) -> Result<Command, CliError> {
    let name: Option<String> = p.opt_value_from_str("--name")?;
    let name = name.ok_or_else(|| CliError("keygen needs --name <module>".into()))?;
    let out: Option<PathBuf> = p.opt_value_from_os_str("--out", to_path)?;
    Ok(Command::Keygen {
        name,
        out: out.unwrap_or_else(|| PathBuf::from(".")),
    })
}

fn to_path(s: &std::ffi::OsStr) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<std::ffi::OsString> {
        s.split_whitespace().map(Into::into).collect()
    }

    #[test]
    fn serve_accepts_both_spellings() {
        let want = Command::Serve(ServeArgs {
            config: "c.json".into(),
            dev: true,
            create_admin: true,
        });
        assert_eq!(parse(args("-c c.json --dev --create_admin")), Ok(want));
        let want = Command::Serve(ServeArgs {
            config: "c.json".into(),
            dev: false,
            create_admin: true,
        });
        assert_eq!(parse(args("--config c.json --create-admin")), Ok(want));
    }

    #[test]
    fn missing_config_and_extra_words_are_errors() {
        assert!(parse(args("--dev")).is_err());
        assert!(parse(args("-c a.json surprise")).is_err());
        assert!(parse(args("keygen")).is_err());
        assert!(parse(args("user list")).is_err(), "no config");
        assert!(parse(args("user -c c.json")).is_err(), "no command");
        assert!(parse(args("user show -c c.json")).is_err(), "no name");
        assert!(
            parse(args("user add --name a -c c.json")).is_err(),
            "no email"
        );
        assert!(parse(args("sessions end -c c.json")).is_err(), "no user");
        assert!(parse(args("user list -c c.json extra")).is_err());
    }

    #[test]
    fn admin_commands_take_options_in_any_order() {
        let want = Command::Admin(AdminArgs {
            config: "c.json".into(),
            json: true,
            action: Action::UserSetRole {
                name: "kim".into(),
                role: "teacher".into(),
            },
        });
        assert_eq!(
            parse(args("user set-role kim teacher -c c.json --json")),
            Ok(want)
        );
        let want = Command::Admin(AdminArgs {
            config: "c.json".into(),
            json: false,
            action: Action::SessionsList {
                user: Some("kim".into()),
            },
        });
        assert_eq!(parse(args("sessions --user kim list -c c.json")), Ok(want));
        let want = Command::Admin(AdminArgs {
            config: "c.json".into(),
            json: false,
            action: Action::UserAdd(NewUser {
                email: "k@x.org".into(),
                name: "kim".into(),
                role: None,
                password_stdin: true,
            }),
        });
        let line = "user add -c c.json --email k@x.org --name kim --password-stdin";
        assert_eq!(parse(args(line)), Ok(want));
    }

    #[test]
    fn help_names_the_command_asked_about() {
        assert_eq!(parse(args("--help")), Ok(Command::Help(USAGE)));
        assert_eq!(
            parse(args("user add --help")),
            Ok(Command::Help(USER_USAGE))
        );
        assert_eq!(
            parse(args("sessions -h")),
            Ok(Command::Help(SESSIONS_USAGE))
        );
        assert_eq!(
            parse(args("check-config --help")),
            Ok(Command::Help(CHECK_USAGE))
        );
        assert_eq!(
            parse(args("keygen --help")),
            Ok(Command::Help(KEYGEN_USAGE))
        );
        assert!(parse(args("nothing --help")).is_err());
    }
}
