//! The JSON Schemas of docs/schemas, compiled once per test run, so that
//! every frame a hub test receives is checked against the documented shape
//! of its `type`: a frame that breaks its schema, or whose type has none,
//! fails the test that received it.

use boon::{Compiler, SchemaIndex, Schemas};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The documented schemas of one direction, by message type.
pub struct Catalogue {
    schemas: Schemas,
    by_type: HashMap<String, SchemaIndex>,
}

/// docs/schemas in this checkout.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas")
}

impl Catalogue {
    /// Compiles every `*.json` of `docs/schemas/<folder>`; the file name
    /// (without `.json`) is the message type.
    pub fn load(folder: &str) -> Result<Catalogue, String> {
        let dir = root().join(folder);
        let mut compiler = Compiler::new();
        let mut schemas = Schemas::new();
        let mut by_type = HashMap::new();
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let Some(kind) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let loc = path.to_str().ok_or("schema path is not UTF-8")?;
            let index = compiler
                .compile(loc, &mut schemas)
                .map_err(|e| format!("{}: {e:#}", path.display()))?;
            by_type.insert(kind.to_owned(), index);
        }
        Ok(Catalogue { schemas, by_type })
    }

    /// Checks `frame` against the schema named by its `type` (or by `kind`
    /// when given, for messages without one, such as the envelope).
    pub fn check(&self, frame: &Value, kind: Option<&str>) -> Result<(), String> {
        let Some(kind) = kind.or_else(|| frame.get("type").and_then(Value::as_str)) else {
            return Err("the frame has no string `type`".into());
        };
        let Some(&index) = self.by_type.get(kind) else {
            return Err(format!("no schema documents the type '{kind}'"));
        };
        self.schemas
            .validate(frame, index)
            .map_err(|e| format!("'{kind}' breaks its schema: {e}"))
    }
}

/// What the platform sends to modules (docs/schemas/from_platform).
pub fn from_platform() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        Catalogue::load("from_platform").unwrap_or_else(|e| panic!("docs/schemas: {e}"))
    })
}

/// Fails the test unless `frame`, received from the platform, has the
/// documented shape of its type; returns it for chaining.
pub fn checked(frame: Value) -> Value {
    if let Err(e) = from_platform().check(&frame, None) {
        panic!("frame from the platform breaks docs/schemas: {e}\nframe: {frame}");
    }
    frame
}
