//! The password of `user add`: one line on stdin, never an argument (an
//! argument shows in `ps` and in shell history). On a terminal, and
//! unless `--password-stdin` says a program writes it, there is a prompt
//! and the typing is not echoed.

use super::Error;
use std::io::{BufRead, IsTerminal, Write};

pub fn read(name: &str, no_prompt: bool) -> Result<String, Error> {
    let stdin = std::io::stdin();
    let prompt = !no_prompt && stdin.is_terminal();
    let restore = if prompt {
        eprint!("Password for {name}: ");
        let _ = std::io::stderr().flush();
        echo_off(&stdin)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = restore {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &saved);
        eprintln!();
    }
    read.map_err(Error::Stdin)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// Turns echo off; returns the settings to restore, if they could be read.
fn echo_off(stdin: &std::io::Stdin) -> Option<rustix::termios::Termios> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let saved = tcgetattr(stdin).ok()?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(stdin, OptionalActions::Now, &quiet).ok()?;
    Some(saved)
}
