//! When two nicknames are "the same name" to a reader: the comparison keys
//! stored next to every account (`users.name_key`, `users.name_skeleton`).
//!
//! Two nicknames collide when either key is equal:
//!
//! - `folded`: `skeleton(NFKC(casefold(NFKC(name))))`, with runs of white
//!   space made one space. NFKC first, so that compatibility forms
//!   (fullwidth `ａｄｍｉｎ`, ligatures) become the letters that case folding
//!   knows; NFKC again after folding, as Unicode's `NFKC_Casefold` does,
//!   because folding can undo a composition; the TS #39 skeleton last, so
//!   that look-alikes of the *folded* letters also meet (`Аdmin` with a
//!   Cyrillic capital A folds to `аdmin`, whose skeleton is `admin`).
//! - `skeleton`: the plain TS #39 skeleton of the name as typed. Folding
//!   first loses look-alikes that exist only among capitals: `AIice` (capital
//!   i) folds to `aiice`, far from `alice`, but its skeleton is `Alice`.
//!
//! One key cannot do both: `ADMIN` must meet `admin` (by folding, while its
//! skeleton is `ADMlN`), and `AIice` must meet `Alice` (by skeleton, while it
//! folds to `aiice`); a single key meeting both would also join `ill` and
//! `lll`, which look different.

use unicode_normalization::UnicodeNormalization;

/// The comparison keys of one nickname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameKeys {
    pub folded: String,
    pub skeleton: String,
}

/// The keys of `name`; every string has them (no input is refused here).
/// Each starts with [`rules`], so that keys of other rules never meet.
pub fn keys(name: &str) -> NameKeys {
    let rules = rules();
    let nfkc: String = name.nfkc().collect();
    let folded: String = unicase::UniCase::unicode(nfkc.as_str())
        .to_folded_case()
        .nfkc()
        .collect();
    let skeleton: String = unicode_security::skeleton(name).collect();
    NameKeys {
        folded: format!("{rules}{}", one_space(unicode_security::skeleton(&folded))),
        skeleton: format!("{rules}{skeleton}"),
    }
}

/// What made a key: the steps above (their version, `1`) and the Unicode
/// data of the crates. A new Unicode version moves characters between
/// confusable sets, so start-up recomputes the keys that another version
/// made (`db::users::fill_name_keys`).
pub fn rules() -> String {
    let (a, b, c) = unicode_security::UNICODE_VERSION;
    let (d, e, f) = unicode_normalization::UNICODE_VERSION;
    format!("1/{a}.{b}.{c}/{d}.{e}.{f}:")
}

/// Runs of white space as one space, none at either end: `bob  smith`
/// reads as `bob smith`.
fn one_space(chars: impl Iterator<Item = char>) -> String {
    let text: String = chars.collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_rules() {
        let keys = keys("Bob");
        assert!(keys.folded.starts_with(&rules()), "{keys:?}");
        assert_eq!(keys.folded.strip_prefix(&rules()), Some("bob"));
        assert_eq!(keys.skeleton.strip_prefix(&rules()), Some("Bob"));
    }

    fn collide(a: &str, b: &str) -> bool {
        let (a, b) = (keys(a), keys(b));
        a.folded == b.folded || a.skeleton == b.skeleton
    }

    #[test]
    fn look_alikes_of_admin_collide() {
        for name in [
            "admin",
            "Admin",
            "ADMIN",
            "aDmIn",
            "ad\u{200b}min", // zero-width space
            "\u{430}dmin",   // Cyrillic a
            "\u{410}dmin",   // Cyrillic capital A
            "ａｄｍｉｎ",    // fullwidth
            "adm\u{131}n",   // dotless i
            "adm\u{456}n",   // Cyrillic i
            "adrnin",        // rn for m
            "ad\u{ad}min",   // soft hyphen
            "\u{feff}admin", // byte order mark
            "admin\u{2069}", // pop directional isolate
            "a\u{34f}dmin",  // combining grapheme joiner
        ] {
            assert!(collide(name, "admin"), "{name:?} {:?}", keys(name));
        }
    }

    #[test]
    fn capitals_that_look_like_other_letters_collide() {
        assert!(collide("AIice", "Alice"));
        assert!(collide("PAYPAL", "PAYPA1"));
        assert!(collide("BOB", "B0B"));
    }

    #[test]
    fn composed_and_decomposed_accents_collide() {
        assert!(collide("J\u{f6}rg", "Jo\u{308}rg"));
        assert!(collide("Ärger", "a\u{308}rger"));
        assert!(collide("Stra\u{df}e", "STRASSE"), "full case folding");
        assert!(collide("bob  smith", "Bob Smith"));
    }

    #[test]
    fn different_names_stay_different() {
        for (a, b) in [
            ("admin", "admins"),
            ("bob", "rob"),
            ("Jörg", "Jorg"),
            ("ill", "lll"),
            ("anna", "hanna"),
            ("李小龍", "李小龙"),
        ] {
            assert!(!collide(a, b), "{a} {b}: {:?} {:?}", keys(a), keys(b));
        }
    }
}
