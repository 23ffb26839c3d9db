//! The two mails of a password reset, each as plain text and HTML: the link
//! (for password accounts) and the notice that a Google account has no
//! password here; and the e-mail verification link. Short, naming the
//! platform and when the link expires.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// What goes into a reset mail.
pub struct Reset<'a> {
    pub platform: &'a str,
    pub link: &'a str,
    /// Unix seconds.
    pub expires_at: i64,
    pub ttl_secs: u64,
}

/// What goes into a verification mail.
pub struct Verify<'a> {
    pub platform: &'a str,
    pub link: &'a str,
    /// Unix seconds.
    pub expires_at: i64,
    pub ttl_secs: u64,
}

/// What goes into the notice for a Google account.
pub struct GoogleNotice<'a> {
    pub platform: &'a str,
    pub login_url: &'a str,
}

pub fn reset(from: &Mailbox, to: Mailbox, id: String, r: &Reset) -> Result<Message, String> {
    let until = format!("{} UTC", utc_minute(r.expires_at));
    let valid = duration_words(r.ttl_secs);
    let text = format!(
        "Hello,\n\n\
         someone (hopefully you) asked to reset the password of your {platform} account.\n\
         Open this link to choose a new password:\n\n\
         {link}\n\n\
         The link works once and expires in {valid}, at {until}.\n\
         If you did not ask for this, ignore this mail: your password stays as it is.\n\n\
         -- {platform}\n",
        platform = r.platform,
        link = r.link,
    );
    let html = format!(
        "<p>Hello,</p>\n\
         <p>someone (hopefully you) asked to reset the password of your {platform} account.</p>\n\
         <p><a href=\"{link}\">Choose a new password</a></p>\n\
         <p>The link works once and expires in {valid}, at {until}.<br>\n\
         If you did not ask for this, ignore this mail: your password stays as it is.</p>\n\
         <p>&mdash; {platform}</p>\n",
        platform = escape(r.platform),
        link = escape(r.link),
    );
    let subject = format!("{}: reset your password", r.platform);
    build(from, to, id, &subject, text, html)
}

pub fn verification(
    from: &Mailbox,
    to: Mailbox,
    id: String,
    v: &Verify,
) -> Result<Message, String> {
    let until = format!("{} UTC", utc_minute(v.expires_at));
    let valid = duration_words(v.ttl_secs);
    let text = format!(
        "Hello,\n\n\
         someone (hopefully you) made a {platform} account with this address.\n\
         Open this link to confirm it; then you can log in:\n\n\
         {link}\n\n\
         The link works once and expires in {valid}, at {until}.\n\
         If you did not make this account, ignore this mail.\n\n\
         -- {platform}\n",
        platform = v.platform,
        link = v.link,
    );
    let html = format!(
        "<p>Hello,</p>\n\
         <p>someone (hopefully you) made a {platform} account with this address.</p>\n\
         <p><a href=\"{link}\">Confirm your e-mail address</a>; then you can log in.</p>\n\
         <p>The link works once and expires in {valid}, at {until}.<br>\n\
         If you did not make this account, ignore this mail.</p>\n\
         <p>&mdash; {platform}</p>\n",
        platform = escape(v.platform),
        link = escape(v.link),
    );
    let subject = format!("{}: confirm your e-mail address", v.platform);
    build(from, to, id, &subject, text, html)
}

pub fn google_notice(
    from: &Mailbox,
    to: Mailbox,
    id: String,
    n: &GoogleNotice,
) -> Result<Message, String> {
    let text = format!(
        "Hello,\n\n\
         someone (hopefully you) asked to reset the password of your {platform} account.\n\
         Your account has no password here: it signs in with Google.\n\
         Use \"Sign in with Google\" on {login}.\n\
         If you did not ask for this, ignore this mail.\n\n\
         -- {platform}\n",
        platform = n.platform,
        login = n.login_url,
    );
    let html = format!(
        "<p>Hello,</p>\n\
         <p>someone (hopefully you) asked to reset the password of your {platform} account.</p>\n\
         <p>Your account has no password here: it signs in with Google.\n\
         Use &ldquo;Sign in with Google&rdquo; on <a href=\"{login}\">the login page</a>.</p>\n\
         <p>If you did not ask for this, ignore this mail.</p>\n\
         <p>&mdash; {platform}</p>\n",
        platform = escape(n.platform),
        login = escape(n.login_url),
    );
    let subject = format!("{}: your account signs in with Google", n.platform);
    build(from, to, id, &subject, text, html)
}

fn build(
    from: &Mailbox,
    to: Mailbox,
    id: String,
    subject: &str,
    text: String,
    html: String,
) -> Result<Message, String> {
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(id))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| e.to_string())
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "60 minutes", "2 hours", "90 seconds".
fn duration_words(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s >= 7200 => format!("{} hours", s / 3600),
        s if s % 60 == 0 && s >= 60 => format!("{} minutes", s / 60),
        1 => "1 second".into(),
        s => format!("{s} seconds"),
    }
}

/// `YYYY-MM-DD HH:MM` in UTC, from Unix seconds (no date crate needed for
/// one line of text).
fn utc_minute(unix: i64) -> String {
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = crate::clock::civil_from_days(unix.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
        assert_eq!(duration_words(3600), "60 minutes");
        assert_eq!(duration_words(7200), "2 hours");
        assert_eq!(duration_words(90), "90 seconds");
    }

    #[test]
    fn reset_mail_has_both_parts_and_escapes_html() {
        let from: Mailbox = "Lab <noreply@example.org>".parse().unwrap();
        let to: Mailbox = "bob@example.org".parse().unwrap();
        let r = Reset {
            platform: "A<b>",
            link: "https://lab.example/forgot_password?phrase=abc",
            expires_at: 1_700_000_000,
            ttl_secs: 3600,
        };
        let m = reset(&from, to, "<1@example.org>".into(), &r).unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(raw.contains("A&lt;b&gt;"), "{raw}");
        assert!(raw.contains("2023-11-14 22:13 UTC"), "{raw}");
    }
}
