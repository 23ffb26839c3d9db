//! docs/schemas themselves: every schema compiles, its own examples fit it,
//! docs/schemas/README.md lists every file, the PyNaCl vectors' messages fit
//! the module-side schemas, and the check that the hub tests run on every
//! frame does refuse what the protocol forbids. No server needed.

use crate::common;

use common::schemas::{root, Catalogue};
use common::vectors;
use serde_json::{json, Value};

fn catalogue(folder: &str) -> Catalogue {
    Catalogue::load(folder).unwrap_or_else(|e| panic!("{e}"))
}

fn schema_files(folder: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join(folder))
        .expect("schema folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_schema_compiles_and_its_examples_fit() {
    for folder in ["from_platform", "from_module"] {
        let cat = catalogue(folder);
        for name in schema_files(folder) {
            let kind = name.trim_end_matches(".json");
            let text = std::fs::read_to_string(root().join(folder).join(&name)).expect("read");
            let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
            assert_eq!(
                schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
                "{folder}/{name}"
            );
            for example in schema["examples"].as_array().into_iter().flatten() {
                cat.check(example, Some(kind))
                    .unwrap_or_else(|e| panic!("{folder}/{name}: example {example}: {e}"));
            }
        }
    }
}

#[test]
fn the_schema_readme_lists_every_schema() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    for folder in ["from_platform", "from_module"] {
        for name in schema_files(folder) {
            let entry = format!("{folder}/{name}");
            assert!(readme.contains(&entry), "README.md does not list {entry}");
        }
    }
}

#[test]
fn the_pynacl_vectors_fit_the_module_side_schemas() {
    let cat = catalogue("from_module");
    for case in vectors()["signed_messages"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap_or("?");
        let wire: Value = serde_json::from_str(case["wire"].as_str().expect("wire")).expect("JSON");
        cat.check(&wire, Some("envelope"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if case["expect"] == "accept" {
            let inner: Value =
                serde_json::from_str(case["inner"].as_str().expect("inner")).expect("JSON");
            cat.check(&inner, None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    let hello = json!({"type": "module_socket_connect", "module": "ListServ"});
    cat.check(&hello, None)
        .expect("the original handshake body");
}

#[test]
fn the_frame_check_refuses_what_the_protocol_forbids() {
    let cat = catalogue("from_platform");
    let login = json!({"type": "user_login", "username": "bob", "email": "bob@example.org",
        "id": 7, "role": "guest", "access_token": "t".repeat(44),
        "resolve_id": "5f1d6c1e-0000-4000-8000-000000000001"});
    cat.check(&login, None).expect("a whole user_login");
    let refused = [
        (
            "no resolve_id: kills the original client",
            without(&login, "resolve_id"),
        ),
        (
            "a field the shape does not have",
            with(&login, "password_hash", json!("$2b$")),
        ),
        ("an id that is not a number", with(&login, "id", json!("7"))),
        (
            "a type nobody documented",
            with(&login, "type", json!("user_teleported")),
        ),
        ("no type at all", without(&login, "type")),
        (
            "a failure without its reason word",
            json!({"type": "get_user_response", "success": false, "resolve_id": "x"}),
        ),
        (
            "a success without its payload",
            json!({"type": "get_user_response", "success": true, "resolve_id": "x"}),
        ),
        (
            "a user with a field too many",
            json!({"type": "get_user_response", "success": true, "resolve_id": "x",
                   "user": {"id": 1, "email": "e", "username": "u", "role": "guest", "password": "p"}}),
        ),
        (
            "a reason that is not a reason word",
            json!({"type": "get_template_response", "success": false, "resolve_id": "x",
                   "reason": "Template not found"}),
        ),
        (
            "a session_ended with the token itself instead of its hash",
            json!({"type": "session_ended", "token_sha256": "t".repeat(44), "userid": 1,
                   "reason": "logout", "resolve_id": "x"}),
        ),
    ];
    for (what, frame) in refused {
        assert!(cat.check(&frame, None).is_err(), "accepted {what}: {frame}");
    }
}

fn with(v: &Value, key: &str, value: Value) -> Value {
    let mut v = v.clone();
    v[key] = value;
    v
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
    v
}
