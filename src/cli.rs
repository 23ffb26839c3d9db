//! Command line: parsed into plain [`Args`] with no I/O, so that every
//! mistake is reported before anything is read or started.

use std::fmt;
use std::path::PathBuf;

pub const USAGE: &str = "\
sse-platform: accounts, sessions and module hub of the SSE platform

Usage:
  sse-platform -c <config.json> [--dev] [--create_admin]
  sse-platform keygen --name <module> [--out <dir>]
  sse-platform --help | --version

Options:
  -c, --config <file>   JSON configuration (see config.example.json)
  --create_admin        create the admin account from the config if absent
                        (also spelled --create-admin)
  --dev                 developer mode: every request counts as an admin's
  -h, --help            print this help
  -V, --version         print the version
";

/// What the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve(ServeArgs),
    Keygen { name: String, out: PathBuf },
    Help,
    Version,
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
    if p.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if p.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let command = match p.subcommand()?.as_deref() {
        Some("keygen") => parse_keygen(&mut p)?,
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

fn parse_serve(p: &mut pico_args::Arguments) -> Result<Command, CliError> {
    let dev = p.contains("--dev");
    let create_admin = p.contains("--create_admin") | p.contains("--create-admin");
    let config: Option<PathBuf> = p.opt_value_from_os_str(["-c", "--config"], to_path)?;
    let config = config.ok_or_else(|| CliError("missing -c <config.json>".into()))?;
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
    }
}
