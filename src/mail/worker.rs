//! The mail thread: turns reset and verification requests into mails and
//! delivers them,
//! keeping failed ones for a later try. It owns everything it uses; nothing
//! here is shared with other threads.

use super::message::{self, GoogleNotice, Reset};
use super::Job;
use crate::auth::{reset, verification};
use crate::config::SmtpConfig;
use crate::db::users::Credentials;
use crate::db::{users, verifications, Db};
use crate::metrics::METRICS;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct Setup {
    pub rx: Receiver<Job>,
    pub db: Arc<Db>,
    pub transport: SmtpTransport,
    pub from: Mailbox,
    pub smtp: SmtpConfig,
    pub reset_ttl: Duration,
    pub verify_ttl: Duration,
    pub public_url: String,
}

/// The longest pause between two attempts at one mail.
const MAX_PAUSE: Duration = Duration::from_secs(86_400);

/// A mail waiting for its next delivery attempt.
struct Pending {
    message: Message,
    /// For log lines: "reset link", "Google notice" or "verification link".
    kind: &'static str,
    user_id: i32,
    attempts: u32,
    due: Instant,
}

pub(super) struct Worker {
    s: Setup,
    pending: Vec<Pending>,
}

impl Worker {
    pub fn new(s: Setup) -> Worker {
        Worker {
            s,
            pending: Vec::new(),
        }
    }

    pub fn run(mut self) {
        loop {
            let next_due = self.pending.iter().map(|p| p.due).min();
            let received = match next_due {
                Some(due) => self
                    .s
                    .rx
                    .recv_timeout(due.saturating_duration_since(Instant::now())),
                None => self.s.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(Job::Reset { email }) => {
                    if let Some(mail) = self.prepare(&email) {
                        self.deliver(mail);
                    }
                }
                Ok(Job::Verify { email }) => {
                    if let Some(mail) = self.prepare_verification(&email) {
                        self.deliver(mail);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) if self.pending.is_empty() => return,
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            self.retry_due();
        }
    }

    fn retry_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.due <= now);
        self.pending = later;
        for mail in due {
            self.deliver(mail);
        }
    }

    /// The one account of `email` and its mailbox, or `None` when there is
    /// nothing to send to: no single account has that address (nothing is
    /// logged that would tell an operator's log reader which addresses were
    /// tried). `kind` names the request in log lines.
    fn account(&self, email: &str, kind: &str) -> Option<(Credentials, Mailbox)> {
        let found = self
            .s
            .db
            .conn()
            .and_then(|mut c| users::by_email(&mut *c, email));
        let mut found = match found {
            Ok(found) => found,
            Err(e) => {
                log::warn!("{kind} request dropped: {e}");
                return None;
            }
        };
        if found.len() != 1 {
            log::info!("{kind} asked for an address without an account; no mail");
            return None;
        }
        let creds = found.remove(0);
        match creds.user.email.parse() {
            Ok(to) => Some((creds, to)),
            Err(e) => {
                log::warn!("user {} has an unusable address: {e}", creds.user.id);
                None
            }
        }
    }

    /// The reset mail for `email`, or `None` when there is nothing to send.
    fn prepare(&self, email: &str) -> Option<Pending> {
        let (creds, to) = self.account(email, "reset")?;
        let has_password = creds.password_hash().is_some();
        let user = creds.user;
        let built = if has_password {
            self.reset_mail(user.id, to).map(|m| (m, "reset link"))
        } else {
            let login_url = format!("{}/login", self.s.public_url);
            let notice = GoogleNotice {
                platform: &self.s.smtp.platform_name,
                login_url: &login_url,
            };
            message::google_notice(&self.s.from, to, self.message_id(), &notice)
                .map(|m| (m, "Google notice"))
        };
        match built {
            Ok((message, kind)) => Some(Pending {
                message,
                kind,
                user_id: user.id,
                attempts: 0,
                due: Instant::now(),
            }),
            Err(e) => {
                log::warn!("reset mail for user {} not made: {e}", user.id);
                None
            }
        }
    }

    /// The verification mail for `email`: only a password account that is
    /// not verified gets one (a Google account was verified by Google).
    fn prepare_verification(&self, email: &str) -> Option<Pending> {
        let (creds, to) = self.account(email, "verification")?;
        let id = creds.user.id;
        let verified = self
            .s
            .db
            .conn()
            .and_then(|mut c| verifications::is_verified(&mut *c, id));
        match verified {
            Ok(Some(false)) if creds.password_hash().is_some() => {}
            Ok(_) => return None,
            Err(e) => {
                log::warn!("verification request dropped: {e}");
                return None;
            }
        }
        let (token, expires_at) = verification::issue(&self.s.db, id, self.s.verify_ttl)
            .map_err(|e| log::warn!("verification mail for user {id} not made: {e}"))
            .ok()?;
        let link = format!("{}/verify_email?token={token}", self.s.public_url);
        let v = message::Verify {
            platform: &self.s.smtp.platform_name,
            link: &link,
            expires_at,
            ttl_secs: self.s.verify_ttl.as_secs(),
        };
        match message::verification(&self.s.from, to, self.message_id(), &v) {
            Ok(message) => Some(Pending {
                message,
                kind: "verification link",
                user_id: id,
                attempts: 0,
                due: Instant::now(),
            }),
            Err(e) => {
                log::warn!("verification mail for user {id} not made: {e}");
                None
            }
        }
    }

    fn reset_mail(&self, user_id: i32, to: Mailbox) -> Result<Message, String> {
        let (phrase, expires_at) =
            reset::issue(&self.s.db, user_id, self.s.reset_ttl).map_err(|e| e.to_string())?;
        let link = format!("{}/forgot_password?phrase={phrase}", self.s.public_url);
        let r = Reset {
            platform: &self.s.smtp.platform_name,
            link: &link,
            expires_at,
            ttl_secs: self.s.reset_ttl.as_secs(),
        };
        message::reset(&self.s.from, to, self.message_id(), &r)
    }

    /// `<random@sender's domain>`, so the id says where the mail came from.
    fn message_id(&self) -> String {
        let bytes: [u8; 16] = crate::random::bytes().unwrap_or([0; 16]);
        let hex = crate::hex::encode(&bytes);
        let address = self.s.from.email.to_string();
        let domain = address.rsplit_once('@').map_or("localhost", |(_, d)| d);
        format!("<{hex}@{domain}>")
    }

    fn deliver(&mut self, mut mail: Pending) {
        mail.attempts += 1;
        let max = self.s.smtp.max_attempts;
        let sent = self.s.transport.send(&mail.message);
        let counter = match &sent {
            Ok(_) => &METRICS.mails_sent,
            Err(_) => &METRICS.mails_failed,
        };
        counter.inc();
        match sent {
            Ok(_) => log::info!("sent {} to user {}", mail.kind, mail.user_id),
            Err(e) if mail.attempts >= max => log::warn!(
                "{} to user {} not sent, giving up after {max} attempts: {e}",
                mail.kind,
                mail.user_id
            ),
            Err(e) if self.pending.len() >= self.s.smtp.queue_len => log::warn!(
                "{} to user {} not sent, retry list full: {e}",
                mail.kind,
                mail.user_id
            ),
            Err(e) => {
                let pause = (self.s.smtp.retry_delay * 2u32.saturating_pow(mail.attempts - 1))
                    .min(MAX_PAUSE);
                log::warn!(
                    "{} to user {} not sent (attempt {}/{max}), retrying in {}s: {e}",
                    mail.kind,
                    mail.user_id,
                    mail.attempts,
                    pause.as_secs()
                );
                mail.due = Instant::now() + pause;
                self.pending.push(mail);
            }
        }
    }
}
