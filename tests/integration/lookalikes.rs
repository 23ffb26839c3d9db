//! Look-alike nicknames and emails: a new account may not take a name that
//! reads like an existing one (case, compatibility forms, TS #39 confusables)
//! or that hides invisible characters, nor an email that differs only in
//! case. Look-alikes already in a database made by the original keep
//! logging in by their exact name.

use crate::common;

use common::{Client, Server, Setup, TestDb, ADMIN_NAME, ADMIN_PASSWORD};
use serde_json::json;
use std::time::Duration;
use unicode_normalization::UnicodeNormalization;

const PASSWORD: &str = "user password 1";

fn register(c: &Client, email: &str, nickname: &str) -> common::Resp {
    c.register_form(email, nickname, PASSWORD)
}

fn user_count(db: &TestDb) -> i64 {
    db.client()
        .query_one("SELECT count(*) FROM users", &[])
        .unwrap()
        .get(0)
}

#[test]
fn look_alikes_of_a_taken_nickname_are_409() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let db = server.db();
    let c = server.client();
    for (i, name) in [
        "Admin",
        "ADMIN",
        "aDMIn",
        "\u{430}dmin", // Cyrillic a
        "\u{410}DMIN", // Cyrillic capital A
        "ａｄｍｉｎ",  // fullwidth
        "adm\u{131}n", // dotless i
        "adm\u{456}n", // Cyrillic i
        "adrnin",      // rn for m
        "admin",       // the same name
    ]
    .into_iter()
    .enumerate()
    {
        let r = register(&c, &format!("look{i}@example.org"), name);
        assert_eq!(r.status, 409, "{name:?}: {}", r.body);
        r.assert_error(409, "username_already_exists");
    }
    // Capitals that look like other letters: AIice (capital i) is Alice.
    register(&c, "alice@example.org", "Alice").ok_json();
    register(&c, "aiice@example.org", "AIice").assert_error(409, "username_already_exists");
    // Composed and decomposed accents are one name.
    register(&c, "jorg@example.org", "J\u{f6}rg").ok_json();
    register(&c, "jorg2@example.org", "Jo\u{308}rg").assert_error(409, "username_already_exists");
    register(&c, "jorg3@example.org", "JÖRG").assert_error(409, "username_already_exists");
    // Different names stay available.
    register(&c, "jorg4@example.org", "Jorg").ok_json();
    register(&c, "admins@example.org", "admins").ok_json();
    assert_eq!(user_count(db), 5);
    c.login(ADMIN_NAME, ADMIN_PASSWORD);
}

#[test]
fn nicknames_with_invisible_characters_are_400() {
    let server = Server::start(json!({}), &["--create_admin"]);
    let db = server.db();
    let c = server.client();
    for (i, name) in [
        "ad\u{200b}min",         // zero-width space
        "nimda\u{202e}",         // right-to-left override
        "\u{2066}admin\u{2069}", // isolates
        "ad\u{2067}min",
        "ad\u{2068}min",
        "\u{feff}admin", // byte order mark
        "ad\u{ad}min",   // soft hyphen
        "ad\u{200d}min", // zero-width joiner
        "admin\u{e000}", // private use
        "admin\u{378}",  // unassigned
        "ad\u{2028}min", // line separator
        "\u{3164}",      // Hangul filler, shows nothing
        "carol\u{200e}", // left-to-right mark, next to no one
    ]
    .into_iter()
    .enumerate()
    {
        let r = register(&c, &format!("hidden{i}@example.org"), name);
        assert_eq!(r.status, 400, "{name:?}: {}", r.body);
        r.assert_error(400, "invalid_nickname");
    }
    assert_eq!(user_count(db), 1);
    // Accents, other scripts, punctuation and inner spaces are names.
    for (i, name) in ["Zoë Ärger", "李小龍", "O'Brien-Smith", "bob 2"]
        .into_iter()
        .enumerate()
    {
        register(&c, &format!("fine{i}@example.org"), name).ok_json();
    }
}

#[test]
fn names_whose_keys_grow_long_are_still_compared() {
    let server = Server::start(json!({}), &[]);
    let db = server.db();
    let c = server.client();
    // Characters whose NFKC form has 16 bytes or more (U+FDFA: 33), 200 of
    // them in a scrambled order: keys of kilobytes, more than a B-tree
    // index entry holds uncompressed (2704 bytes).
    let expanding: Vec<char> = ('\u{2000}'..='\u{ffff}')
        .filter(|c| c.nfkc().map(char::len_utf8).sum::<usize>() >= 16)
        .collect();
    let mut seed = 12345u32;
    let long: String = (0..200)
        .map(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            expanding[(seed >> 16) as usize % expanding.len()]
        })
        .collect();
    register(&c, "long@example.org", &long).ok_json();
    let longest: i32 = db
        .client()
        .query_one("SELECT max(octet_length(name_key)) FROM users", &[])
        .unwrap()
        .get(0);
    assert!(longest > 2704, "a key of {longest} bytes");
    register(&c, "long2@example.org", &long).assert_error(409, "username_already_exists");
    let short = "\u{fdfa}";
    register(&c, "short@example.org", short).ok_json();
    // Its NFKC form, typed out, is the same name.
    let expanded: String = "\u{fdfa}".nfkc().collect();
    assert!(expanded.chars().count() > 10, "{expanded}");
    register(&c, "short2@example.org", &expanded).assert_error(409, "username_already_exists");
}

#[test]
fn emails_are_unique_ignoring_case() {
    let server = Server::start(json!({}), &[]);
    let db = server.db();
    let c = server.client();
    register(&c, "bob@x.org", "bob").ok_json();
    for email in ["Bob@x.org", "BOB@X.ORG", "bob@X.org"] {
        register(&c, email, "robert").assert_error(409, "email_already_exists");
    }
    assert_eq!(user_count(db), 1);
}

#[test]
fn concurrent_look_alikes_make_one_account() {
    let server = Server::start(json!({"hash_threads": 4}), &[]);
    let db = server.db();
    let names = [
        "carol",
        "Carol",
        "CAROL",
        "c\u{430}rol",
        "ｃａｒｏｌ",
        "car\u{3bf}l",
        "CaRoL",
        "cAROL",
    ];
    let handles: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let c = server.client();
            let name = name.to_string();
            std::thread::spawn(move || register(&c, &format!("c{i}@example.org"), &name).status)
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 409),
        "{statuses:?}"
    );
    assert_eq!(user_count(db), 1);
}

/// The tables as the original platform made them, with look-alike rows it
/// let in: two nicknames that differ in case, and emails that differ in case.
fn original_database_with_look_alikes(db: &TestDb) {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let mut pg = db.client();
    pg.batch_execute(include_str!("../../sql/001_original_tables.sql"))
        .unwrap();
    for (email, name) in [
        ("admin@example.org", "admin"),
        ("Admin@example.org", "Admin"),
        ("b\u{43e}b@example.org", "b\u{43e}b"), // Cyrillic o
        ("bob@example.org", "bob"),
    ] {
        pg.execute(
            "INSERT INTO users (email, name, hashed_password, role, google_user)
             VALUES ($1, $2, $3, 'guest', false)",
            &[&email, &name, &hash],
        )
        .unwrap();
    }
}

#[test]
fn look_alikes_made_by_the_original_keep_logging_in_by_exact_name() {
    let db = TestDb::new();
    original_database_with_look_alikes(&db);
    let mut server = Setup::new(Some(&db), json!({})).start(&[]);
    let missing: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM users WHERE name_key IS NULL OR name_skeleton IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(missing, 0, "keys are computed at start-up");
    let c = server.client();
    for name in ["admin", "Admin", "bob", "b\u{43e}b"] {
        let token = c.login(name, PASSWORD);
        assert_eq!(c.token(&token).get("/me").ok_json()["user"]["name"], name);
    }
    // New look-alikes of them are still refused, and so are their emails.
    register(&c, "new@example.org", "ADMIN").assert_error(409, "username_already_exists");
    register(&c, "new@example.org", "BOB").assert_error(409, "username_already_exists");
    register(&c, "ADMIN@example.org", "newbie").assert_error(409, "email_already_exists");
    // Keys made by other rules (an older Unicode) are made again.
    db.client()
        .execute(
            "UPDATE users SET name_key = 'old rules:x' WHERE name = 'bob'",
            &[],
        )
        .unwrap();
    server.restart();
    let stale: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM users WHERE name_key LIKE 'old rules:%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(stale, 0);
    let c = server.client();
    c.login("Admin", PASSWORD);
    c.login("admin", PASSWORD);
    register(&c, "new@example.org", "Bob").assert_error(409, "username_already_exists");
}

#[test]
fn create_admin_refuses_a_look_alike_of_an_existing_account() {
    let db = TestDb::new();
    db.client()
        .batch_execute(include_str!("../../sql/001_original_tables.sql"))
        .unwrap();
    db.client()
        .execute(
            "INSERT INTO users (email, name, role) VALUES ('x@example.org', 'ADMIN', 'guest')",
            &[],
        )
        .unwrap();
    let setup = Setup::new(Some(&db), json!({})).startup_timeout(Duration::from_secs(20));
    let exited = match setup.try_start(&["--create_admin"]) {
        Ok(_) => panic!("created an admin next to 'ADMIN'"),
        Err(exited) => exited,
    };
    exited.assert_one_error_naming("platform_admin_username");
    assert_eq!(user_count(&db), 1);
}
