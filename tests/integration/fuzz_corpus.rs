//! The fuzz corpora replayed: every file of `fuzz/corpus/<target>/` goes
//! to the entry function its libFuzzer target calls (fuzz/entries.rs, the
//! same file), so that `cargo test` checks in seconds, without cargo-fuzz
//! or nightly features, that nothing fuzzing found (or covered) fails now.
//! docs/security.md ("Fuzzing") says how the corpora were made.

#[allow(dead_code)]
#[path = "../../fuzz/entries.rs"]
mod entries;

use std::path::Path;

/// Feeds each file of the target's corpus to its entry; a panic names the
/// file.
fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let result = std::panic::catch_unwind(|| entry(&data));
        assert!(result.is_ok(), "{} fails its fuzz entry", file.display());
    }
    files.len()
}

/// One test per target, each also checking that its corpus is there.
macro_rules! corpus {
    ($($target:ident),*) => {$(
        #[test]
        fn $target() {
            let n = replay(stringify!($target), entries::$target);
            assert!(n > 0, "fuzz/corpus/{} is empty", stringify!($target));
        }
    )*};
}

corpus!(http_framing, params, cookie, envelope, config);

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = entries::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["http_framing", "params", "cookie", "envelope", "config"]
    );
}
