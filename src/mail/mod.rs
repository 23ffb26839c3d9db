//! Outgoing mail. A password-reset request is handed to one mail thread
//! through a bounded channel; that thread looks the address up, makes the
//! phrase (see `auth::reset`) and sends the mail with lettre, retrying with
//! a doubling pause and logging every failure.
//!
//! The HTTP request only enqueues the address, so it answers at the same
//! speed whether the address has an account or not, and whether the mail
//! server is up, slow or gone.
//!
//! **Invariant:** phrases, links and the SMTP password never reach a log;
//! log lines name users by id.

mod message;
mod transport;
mod worker;

use crate::config::{Config, ConfigError};
use crate::db::Db;
use crossbeam_channel::{Sender, TrySendError};
use std::fmt;
use std::sync::Arc;

enum Job {
    Reset {
        email: String,
    },
    /// A verification link for the account of `email`, if it still needs
    /// one.
    Verify {
        email: String,
    },
}

/// The handle handlers use; cheap, and never blocks.
pub struct Mailer {
    tx: Sender<Job>,
}

#[derive(Debug)]
pub enum MailError {
    /// The `smtp` section cannot be used.
    Config(ConfigError),
    /// The mail thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for MailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailError::Config(e) => write!(f, "{e}"),
            MailError::Thread(_) => f.write_str("cannot start the mail thread"),
        }
    }
}

impl std::error::Error for MailError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Shown as its own text above: its cause comes next.
            MailError::Config(e) => e.source(),
            MailError::Thread(e) => Some(e),
        }
    }
}

impl Mailer {
    /// Starts the mail thread, or returns `None` (and says so in the log)
    /// when the config has no `smtp` section.
    pub fn start(config: &Config, db: Arc<Db>) -> Result<Option<Mailer>, MailError> {
        let Some(smtp) = &config.smtp else {
            log::info!("off (no smtp section); password reset by mail answers 503");
            return Ok(None);
        };
        let public_url = config.public_url();
        if config.public_url.is_none() {
            log::warn!("public_url is not set; reset links will point to {public_url}");
        }
        let hello = host_of(&public_url);
        let transport = transport::build(smtp, &config.path, &hello).map_err(MailError::Config)?;
        let (tx, rx) = crossbeam_channel::bounded(smtp.queue_len);
        let worker = worker::Worker::new(worker::Setup {
            rx,
            db,
            transport,
            from: smtp.from.clone(),
            smtp: smtp.clone(),
            reset_ttl: config.reset.ttl,
            verify_ttl: config.verification.ttl,
            public_url,
        });
        std::thread::Builder::new()
            .name("mail".into())
            .spawn(move || worker.run())
            .map_err(MailError::Thread)?;
        log::info!("on, via {}:{} ({:?})", smtp.host, smtp.port, smtp.security);
        Ok(Some(Mailer { tx }))
    }

    /// Checks the `smtp` section as [`Mailer::start`] would, starting
    /// nothing.
    pub fn check(config: &Config) -> Result<(), MailError> {
        let Some(smtp) = &config.smtp else {
            return Ok(());
        };
        let hello = host_of(&config.public_url());
        transport::build(smtp, &config.path, &hello).map_err(MailError::Config)?;
        Ok(())
    }

    /// Queues a reset mail for `email`. A full queue drops the request with
    /// a log line: the caller's answer must not depend on mail.
    pub fn request_reset(&self, email: &str) {
        self.queue(
            Job::Reset {
                email: email.to_owned(),
            },
            "reset",
        );
    }

    /// Queues a verification mail for the account of `email`; the mail
    /// thread sends one only to an unverified password account. Dropped as
    /// [`Mailer::request_reset`] is: the login page can ask again.
    pub fn request_verification(&self, email: &str) {
        self.queue(
            Job::Verify {
                email: email.to_owned(),
            },
            "verification",
        );
    }

    fn queue(&self, job: Job, kind: &str) {
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::warn!("queue full, {kind} request dropped"),
            Err(TrySendError::Disconnected(_)) => {
                log::error!("the mail thread is gone, {kind} request dropped")
            }
        }
    }
}

/// The host part of a URL, for the SMTP greeting (`EHLO host`).
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.ends_with(':') => h,
        _ => authority,
    };
    if host.is_empty() {
        "localhost".into()
    } else {
        host.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_of_urls() {
        assert_eq!(
            super::host_of("https://lab.example.org:8888/x"),
            "lab.example.org"
        );
        assert_eq!(super::host_of("https://lab.example.org"), "lab.example.org");
        assert_eq!(super::host_of("http://[::1]:8080"), "[::1]");
        assert_eq!(super::host_of(""), "localhost");
    }
}
