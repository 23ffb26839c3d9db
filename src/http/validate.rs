//! Input rules for new accounts and passwords, each failure a 400 with its
//! own reason word.

use super::error::ApiError;
use crate::db::users::Role;

pub fn email(email: &str) -> Result<(), ApiError> {
    let bad = || ApiError::bad_request("invalid_email");
    if email.chars().count() > 200 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return Err(bad());
    }
    Ok(())
}

/// 1 to 200 characters, no `@`, no white space at either end, and only
/// characters a reader can see (see [`visible`]).
pub fn nickname(name: &str) -> Result<(), ApiError> {
    let count = name.chars().count();
    let printable = name.chars().all(visible) && name.trim() == name;
    if !(1..=200).contains(&count) || !printable || name.contains('@') {
        return Err(ApiError::bad_request("invalid_nickname"));
    }
    Ok(())
}

/// Whether a nickname may hold `c`. Refused are the characters that show
/// nothing or change how their neighbours show, so that two names that look
/// alike differ in them: controls (Cc), format characters (Cf: zero-width
/// space and joiners, soft hyphen, byte order mark, and every bidi control
/// such as U+202E and U+2066..U+2069), private use (Co), surrogates (Cs),
/// unassigned code points (Cn), line and paragraph separators (Zl, Zp), and
/// the other default-ignorable characters (the Hangul fillers, the
/// combining grapheme joiner), which TS #39's skeleton drops. Letters with
/// accents, digits, punctuation, symbols and inner spaces stay allowed.
pub fn visible(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    let refused = matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::PrivateUse
            | G::Surrogate
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
    );
    !refused && !ignorable(c)
}

/// Default-ignorable: the skeleton of the character alone is empty.
/// Variation selectors are left alone: emoji carry them, and the skeleton
/// drops them anyway, so they cannot tell two names apart.
fn ignorable(c: char) -> bool {
    let variation_selector = matches!(c, '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}');
    let mut buf = [0; 4];
    !variation_selector
        && unicode_security::skeleton(c.encode_utf8(&mut buf))
            .next()
            .is_none()
}

/// 8 to 1024 bytes. (bcrypt reads the first 72, as the original's did.)
pub fn new_password(password: &str) -> Result<(), ApiError> {
    match password.len() {
        0..=7 => Err(ApiError::bad_request("password_too_short")),
        8..=1024 => Ok(()),
        _ => Err(ApiError::bad_request("password_too_long")),
    }
}

/// One of the four roles, by its word.
pub fn role(role: &str) -> Result<Role, ApiError> {
    role.parse()
        .map_err(|_| ApiError::bad_request("invalid_role"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(email("bob@example.org").is_ok());
        for bad in [
            "",
            "bob",
            "@x.org",
            "bob@",
            "bob@x",
            "bob@.x.org",
            "b ob@x.org",
            "bob@x..org",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nicknames_without_invisible_characters() {
        for bad in [
            "ad\u{200b}min", // zero-width space (Cf)
            "ad\u{200d}min", // zero-width joiner
            "nimda\u{202e}", // right-to-left override
            "\u{202d}admin", // left-to-right override
            "\u{2066}admin", // the isolates U+2066..U+2069
            "ad\u{2067}min",
            "admin\u{2068}",
            "ad\u{2069}min",
            "admin\u{200f}",  // right-to-left mark
            "\u{61c}admin",   // Arabic letter mark
            "\u{feff}admin",  // byte order mark
            "ad\u{ad}min",    // soft hyphen
            "ad\u{2060}min",  // word joiner
            "admin\u{e000}",  // private use
            "admin\u{f0000}", // supplementary private use
            "admin\u{378}",   // unassigned
            "admin\u{fdd0}",  // noncharacter (unassigned)
            "ad\u{2028}min",  // line separator
            "ad\u{2029}min",  // paragraph separator
            "ad\u{7}min",     // bell (Cc)
            "ad\u{85}min",    // next line (Cc)
            "\u{3164}",       // Hangul filler: a name that shows nothing
            "ad\u{34f}min",   // combining grapheme joiner
            "admin\u{e0041}", // tag character
        ] {
            assert_eq!(
                nickname(bad).unwrap_err().reason,
                "invalid_nickname",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nicknames_and_passwords() {
        assert!(nickname("Bob Ärger").is_ok());
        assert!(nickname("").is_err());
        assert!(nickname(" bob").is_err());
        assert!(nickname("a@b").is_err());
        assert!(nickname(&"x".repeat(201)).is_err());
        for good in [
            "Jörg Müller",
            "李小龍",
            "O'Brien-Smith",
            "bob 2",
            "a\u{301}dam",
            "❤\u{fe0f}",
        ] {
            assert!(nickname(good).is_ok(), "{good:?}");
        }
        assert_eq!(
            new_password("short").unwrap_err().reason,
            "password_too_short"
        );
        assert_eq!(
            new_password(&"x".repeat(1025)).unwrap_err().reason,
            "password_too_long"
        );
        assert!(new_password("eight888").is_ok());
        assert_eq!(role("teacher").ok(), Some(Role::Teacher));
        assert!(role("Admin").is_err());
        assert!(role("root").is_err());
    }
}
