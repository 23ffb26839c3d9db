//! What the session store reports when a session ends, whatever ended it:
//! the store itself calls its [`EndListener`] for every session it removed
//! from the database, so no caller can end a session and forget to say so.
//! The hub turns each report into `session_ended` (and, where the original
//! platform sent one, `user_logout`).

use super::token::TokenHash;

/// Why a session ended; [`EndReason::word`] is the protocol's reason word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The user logged out (the web page, everywhere with `all`, or a
    /// module's `user_logout`).
    Logout,
    /// The user ended one of their sessions from their list.
    EndedByUser,
    /// An administrator ended the user's sessions over HTTP.
    EndedByAdmin,
    PasswordChanged,
    PasswordReset,
    AccountDeleted,
    /// An administrator ended it (`sessions end` on the command line).
    Revoked,
    /// Unused for `token_ttl_seconds`: found by the janitor or on a use.
    Expired,
    /// `session_max_seconds` after login, however much it was used.
    AbsoluteCap,
}

impl EndReason {
    pub fn word(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::EndedByUser => "ended_by_user",
            EndReason::EndedByAdmin => "ended_by_admin",
            EndReason::PasswordChanged => "password_changed",
            EndReason::PasswordReset => "password_reset",
            EndReason::AccountDeleted => "account_deleted",
            EndReason::Revoked => "revoked",
            EndReason::Expired => "expired",
            EndReason::AbsoluteCap => "absolute_cap",
        }
    }

    /// The reason a word names, as [`EndReason::word`] writes it.
    pub fn from_word(word: &str) -> Option<EndReason> {
        use EndReason::*;
        [
            Logout,
            EndedByUser,
            EndedByAdmin,
            PasswordChanged,
            PasswordReset,
            AccountDeleted,
            Revoked,
            Expired,
            AbsoluteCap,
        ]
        .into_iter()
        .find(|r| r.word() == word)
    }

    /// Which of the two time limits ended a session created at `created_at`
    /// that is found dead at `now`.
    pub fn timed_out(created_at: i64, max: i64, now: i64) -> EndReason {
        if now >= created_at.saturating_add(max) {
            EndReason::AbsoluteCap
        } else {
            EndReason::Expired
        }
    }
}

/// One ended session.
#[derive(Clone, Debug)]
pub struct Ended {
    pub token_hash: TokenHash,
    pub user_id: i32,
    pub reason: EndReason,
    /// The token's text when whoever ended it held it (a logout, the
    /// session that changed its password): the original platform's
    /// `user_logout` names the token, and only then can it be sent.
    pub token: Option<String>,
    /// An opaque number of whoever asked (a module connection's id), so
    /// that the asker is not told of its own request in the original's
    /// shape; `None` for everything else.
    pub requester: Option<u64>,
}

/// Who hears of ended sessions (the hub). Called with no lock held.
pub trait EndListener: Send + Sync {
    fn session_ended(&self, ended: Ended);

    /// A session another program ended (the admin command line), which
    /// every platform process hears of by itself: tell only this one's.
    fn session_ended_here(&self, ended: Ended) {
        self.session_ended(ended);
    }
}

/// Sessions removed inside a caller's transaction: reported by
/// `SessionStore::announce` once the caller has committed, so that a
/// rolled-back end is never announced.
#[must_use = "pass it to SessionStore::announce after the commit"]
pub struct Pending(pub(super) Vec<Ended>);

impl Pending {
    /// How many sessions ended.
    pub fn count(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::EndReason;

    #[test]
    fn reasons_read_back_from_their_words() {
        for reason in [
            EndReason::Logout,
            EndReason::EndedByUser,
            EndReason::EndedByAdmin,
            EndReason::PasswordChanged,
            EndReason::PasswordReset,
            EndReason::AccountDeleted,
            EndReason::Revoked,
            EndReason::Expired,
            EndReason::AbsoluteCap,
        ] {
            assert_eq!(EndReason::from_word(reason.word()), Some(reason));
        }
        assert_eq!(EndReason::from_word("idle"), None);
    }
}
