//! Input rules for new accounts and passwords, each failure a 400 with its
//! own reason word.

use super::error::ApiError;

pub const ROLES: [&str; 4] = ["guest", "parent", "teacher", "admin"];

pub fn email(email: &str) -> Result<(), ApiError> {
    let bad = ApiError::bad_request("invalid_email");
    if email.chars().count() > 200 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad);
    }
    let (local, domain) = email.rsplit_once('@').ok_or(bad.clone())?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || !domain_ok {
        return Err(bad);
    }
    Ok(())
}

pub fn nickname(name: &str) -> Result<(), ApiError> {
    let count = name.chars().count();
    let printable = !name.chars().any(char::is_control) && name.trim() == name;
    if !(1..=200).contains(&count) || !printable || name.contains('@') {
        return Err(ApiError::bad_request("invalid_nickname"));
    }
    Ok(())
}

/// 8 to 1024 bytes. (bcrypt reads the first 72, as the original's did.)
pub fn new_password(password: &str) -> Result<(), ApiError> {
    match password.len() {
        0..=7 => Err(ApiError::bad_request("password_too_short")),
        8..=1024 => Ok(()),
        _ => Err(ApiError::bad_request("password_too_long")),
    }
}

pub fn role(role: &str) -> Result<(), ApiError> {
    if ROLES.contains(&role) {
        Ok(())
    } else {
        Err(ApiError::bad_request("invalid_role"))
    }
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
    fn nicknames_and_passwords() {
        assert!(nickname("Bob Ärger").is_ok());
        assert!(nickname("").is_err());
        assert!(nickname(" bob").is_err());
        assert!(nickname("a@b").is_err());
        assert!(nickname(&"x".repeat(201)).is_err());
        assert_eq!(
            new_password("short").unwrap_err().reason,
            "password_too_short"
        );
        assert_eq!(
            new_password(&"x".repeat(1025)).unwrap_err().reason,
            "password_too_long"
        );
        assert!(new_password("eight888").is_ok());
        assert!(role("teacher").is_ok());
        assert!(role("root").is_err());
    }
}
