//! The modules' public keys from `verify_keys.json` (`{"<module>": "<base64
//! of the 32-byte Ed25519 public key>"}`): loaded at start, reloaded when the
//! file changes or on SIGHUP. A malformed file keeps the previous keys.

use crate::lock::lock;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub type KeyMap = HashMap<String, VerifyingKey>;

/// Why `verify_keys.json` could not be used.
#[derive(Debug)]
pub struct KeysError {
    pub path: PathBuf,
    pub problem: KeyFileProblem,
}

#[derive(Debug)]
pub enum KeyFileProblem {
    Read(std::io::Error),
    Parse(ParseError),
}

/// What is wrong with the file's text.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON.
    Json(serde_json::Error),
    NotAnObject,
    /// The named module's key is not base64 of an Ed25519 public key.
    BadKey(String),
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

impl std::error::Error for KeysError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            KeyFileProblem::Read(e) => Some(e),
            KeyFileProblem::Parse(e) => Some(e),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "line {}", e.line()),
            ParseError::NotAnObject => {
                f.write_str("expected a JSON object of module names to keys")
            }
            ParseError::BadKey(name) => write!(
                f,
                "the key of '{name}' is not base64 of a 32-byte Ed25519 public key"
            ),
        }
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParseError::Json(e) => Some(e),
            ParseError::NotAnObject | ParseError::BadKey(_) => None,
        }
    }
}

pub struct Keys {
    path: PathBuf,
    current: Mutex<Arc<KeyMap>>,
    /// Modification time and size of the file last read.
    seen: Mutex<Option<(SystemTime, u64)>>,
}

impl Keys {
    /// Reads the file; a missing file means no keys yet (with a warning), a
    /// malformed one is an error naming the line.
    pub fn load(path: &Path) -> Result<Keys, KeysError> {
        let keys = Keys {
            path: path.to_owned(),
            current: Mutex::new(Arc::new(KeyMap::new())),
            seen: Mutex::new(None),
        };
        if path.exists() {
            let map = read(path)?;
            log::info!("{} module keys loaded from {}", map.len(), path.display());
            *lock(&keys.current) = Arc::new(map);
            *lock(&keys.seen) = stamp(path);
        } else {
            log::warn!(
                "{} does not exist; no module can sign in until it does",
                path.display()
            );
        }
        Ok(keys)
    }

    /// Keys given, not read from a file (`path` is empty, so reloads keep
    /// them): for fuzz/entries.rs, which opens envelopes without a disk.
    pub fn fixed(map: KeyMap) -> Keys {
        Keys {
            path: PathBuf::new(),
            current: Mutex::new(Arc::new(map)),
            seen: Mutex::new(None),
        }
    }

    pub fn get(&self, module: &str) -> Option<VerifyingKey> {
        lock(&self.current).get(module).copied()
    }

    /// [`Keys::reload`] if the file's modification time or size changed
    /// since it was last read.
    pub fn reload_if_changed(&self) -> Vec<String> {
        if stamp(&self.path) == *lock(&self.seen) {
            return Vec::new();
        }
        self.reload()
    }

    /// Re-reads the file; returns the names whose keys were removed or
    /// replaced, whose connections must end.
    pub fn reload(&self) -> Vec<String> {
        *lock(&self.seen) = stamp(&self.path);
        let map = match read(&self.path) {
            Ok(map) => map,
            Err(e) => {
                let e = crate::report::chain(&e);
                log::error!("keeping the previous module keys: {e}");
                return Vec::new();
            }
        };
        let old = std::mem::replace(&mut *lock(&self.current), Arc::new(map.clone()));
        let gone: Vec<String> = old
            .iter()
            .filter(|(name, key)| map.get(*name) != Some(key))
            .map(|(name, _)| name.clone())
            .collect();
        log::info!(
            "{} module keys reloaded from {}",
            map.len(),
            self.path.display()
        );
        gone
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read(path: &Path) -> Result<KeyMap, KeysError> {
    let error = |problem| KeysError {
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(KeyFileProblem::Read(e)))?;
    parse(&text).map_err(|e| error(KeyFileProblem::Parse(e)))
}

/// Parses the file's text; every entry must be a valid key.
pub fn parse(text: &str) -> Result<KeyMap, ParseError> {
    let value: Value = serde_json::from_str(text).map_err(ParseError::Json)?;
    let Value::Object(entries) = value else {
        return Err(ParseError::NotAnObject);
    };
    let mut map = KeyMap::new();
    for (name, key) in entries {
        let key = key
            .as_str()
            .and_then(|k| STANDARD.decode(k.trim()).ok())
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
            .ok_or_else(|| ParseError::BadKey(name.clone()))?;
        map.insert(name, key);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vectors_file_and_names_bad_entries() {
        let text = r#"{"ListServ": "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=",
                       "chatsystem": "7UkoxijRwsbq6QM4kFmVYSlZJzpcY/k2NsFGFKyHN9E="}"#;
        assert_eq!(parse(text).unwrap().len(), 2);
        let bad_key = parse(r#"{"x": "c2hvcnQ="}"#).unwrap_err();
        assert!(crate::report::chain(&bad_key).contains("'x'"));
        let not_json = parse("{\n\"a\": }").unwrap_err();
        assert!(crate::report::chain(&not_json).starts_with("line 2"));
    }
}
