//! The `sse-platform` binary: parse the command line, then serve (or make a
//! module key pair, run an admin command, check a config). An error prints
//! as one line, with every cause beneath it (`report::chain`), and exits
//! non-zero.
#![forbid(unsafe_code)]

use sse_platform::cli::{self, Command};
use sse_platform::{admin, keygen, logger, report, server};
use std::process::ExitCode;

fn main() -> ExitCode {
    logger::init();
    let command = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("sse-platform: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help(text) => print!("{text}"),
        Command::Version => println!("sse-platform {}", env!("CARGO_PKG_VERSION")),
        Command::Keygen { name, out } => match keygen::run(&name, &out) {
            Ok(line) => println!("Add this line to the platform's verify_keys.json:\n  {line}"),
            Err(e) => {
                eprintln!("sse-platform: keygen: {}", report::chain(&e));
                return ExitCode::from(1);
            }
        },
        Command::Admin(args) => {
            logger::quiet();
            match admin::run(&args) {
                Ok(output) => println!("{}", output.render(args.json)),
                Err(e) => {
                    eprintln!("sse-platform: {}", report::chain(&e));
                    return ExitCode::from(e.exit_code());
                }
            }
        }
        Command::CheckConfig { config, json } => {
            logger::quiet();
            if let Err(e) = server::check(&config) {
                eprintln!("sse-platform: {}", report::chain(&e));
                return ExitCode::from(e.exit_code());
            }
            println!("{}", if json { r#"{"ok":true}"# } else { "ok" });
        }
        Command::Serve(args) => {
            if let Err(e) = server::run(args) {
                logger::flush();
                eprintln!("sse-platform: {}", report::chain(&e));
                return ExitCode::from(e.exit_code());
            }
        }
    }
    logger::flush();
    ExitCode::SUCCESS
}
