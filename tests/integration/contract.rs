//! The API contract, docs/openapi.yaml: it names exactly the routes the
//! table answers, every reason word the code answers, and the server serves
//! it at `/openapi.yaml`. (scripts/schemathesis checks the answers against
//! it on a live server.)

use crate::common::Server;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;

const CONTRACT: &str = include_str!("../../docs/openapi.yaml");

/// The contract's operations, read by its layout: a path is a line
/// `  /path:` under `paths:`, an operation a line `    method:` below it.
fn contract_operations() -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    let mut in_paths = false;
    let mut path = None;
    for line in CONTRACT.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let (Some(p), Some(m)) = (&path, line.strip_prefix("    ")) {
            let m = m.strip_suffix(':').unwrap_or("");
            if ["get", "put", "post", "delete", "head", "patch", "options"].contains(&m) {
                ops.insert((m.to_owned(), p.clone()));
            }
        }
    }
    ops
}

#[test]
fn the_contract_names_exactly_the_routes_of_the_table() {
    let table: BTreeSet<(String, String)> = sse_platform::http::endpoints()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    let contract = contract_operations();
    assert!(contract.len() > 20, "read too few operations: {contract:?}");
    let missing: Vec<_> = table.difference(&contract).collect();
    assert!(missing.is_empty(), "routes the contract lacks: {missing:?}");
    let extra: Vec<_> = contract.difference(&table).collect();
    assert!(extra.is_empty(), "operations no route answers: {extra:?}");
}

/// The words of the contract's `Reason` enum.
fn contract_reasons() -> BTreeSet<String> {
    let start = CONTRACT.find("    Reason:\n").expect("a Reason schema");
    CONTRACT[start..]
        .lines()
        .skip_while(|l| l.trim() != "enum:")
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- "))
        .map(str::to_owned)
        .collect()
}

/// Snake-case words in quotes on the lines of `src/` that make an error
/// answer: `ApiError` and its constructors, the listener's `(status,
/// "reason")` pairs.
fn reasons_in_source() -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    let mut files = Vec::new();
    collect_rs(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
        &mut files,
    );
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for line in text.lines().filter(|l| answers_an_error(l)) {
            for (i, quoted) in line.split('"').enumerate() {
                let snake = !quoted.is_empty()
                    && quoted.contains('_')
                    && quoted.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                if i % 2 == 1 && snake {
                    words.insert(quoted.to_owned());
                }
            }
        }
    }
    words
}

fn answers_an_error(line: &str) -> bool {
    let status_pair = ["(4", "(5"].iter().any(|p| {
        line.match_indices(p)
            .any(|(i, _)| line[i + 2..].starts_with(|c: char| c.is_ascii_digit()))
    });
    line.contains("ApiError")
        || line.contains("Self::new(")
        || line.contains("Self::bad_request(")
        || (status_pair && line.contains(", \""))
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_contract_names_every_reason_word_and_no_other() {
    let contract = contract_reasons();
    let source = reasons_in_source();
    assert!(source.contains("no_token") && source.contains("request_timeout"));
    let missing: Vec<_> = source.difference(&contract).collect();
    assert!(
        missing.is_empty(),
        "reasons the contract lacks: {missing:?}"
    );
    let all_source = {
        let mut files = Vec::new();
        collect_rs(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path(),
            &mut files,
        );
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("read a source file"))
            .collect::<String>()
    };
    let unused: Vec<_> = contract
        .iter()
        .filter(|w| !all_source.contains(&format!("\"{w}\"")))
        .collect();
    assert!(unused.is_empty(), "reasons no code answers: {unused:?}");
}

#[test]
fn the_server_serves_its_contract() {
    let server = Server::start(json!({}), &[]);
    let r = server.client().get("/openapi.yaml");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/yaml"));
    assert_eq!(r.body, CONTRACT);
    assert!(r.body.starts_with("# The platform's HTTP API"));
    assert!(r.body.contains("\nopenapi: 3.1.0\n"));
}
