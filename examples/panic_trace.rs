//! Panics on purpose, to check that a release build's backtrace shows file
//! and line (docs/benchmarks.md, "Release build"):
//! `RUST_BACKTRACE=1 cargo run --release --example panic_trace`.

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    deliberately_panic(&words);
}

#[inline(never)]
fn deliberately_panic(words: &[String]) {
    if words.is_empty() {
        panic!("a deliberate panic, to read its backtrace");
    }
    println!("{}", words.join(" "));
}
