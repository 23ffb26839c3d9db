//! `sse-platform keygen`: a module's Ed25519 key pair in the original
//! `signing.py` formats (base64 of the 32-byte seed / public key).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why no key pair was written.
#[derive(Debug)]
pub enum KeygenError {
    /// The OS random generator failed.
    Random(getrandom::Error),
    /// A key file could not be created (it exists already, say).
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for KeygenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeygenError::Random(_) => f.write_str("random generator"),
            KeygenError::Write { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

impl std::error::Error for KeygenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeygenError::Random(e) => Some(e),
            KeygenError::Write { source, .. } => Some(source),
        }
    }
}

/// Writes `signing_key.key` (mode 0600) and `verify_key.key` into `out`,
/// refusing to overwrite; returns the line for verify_keys.json.
pub fn run(name: &str, out: &Path) -> Result<String, KeygenError> {
    let seed: [u8; 32] = crate::random::bytes().map_err(KeygenError::Random)?;
    let key = SigningKey::from_bytes(&seed);
    let public = STANDARD.encode(key.verifying_key().as_bytes());
    write_new(&out.join("signing_key.key"), &STANDARD.encode(seed), 0o600)?;
    write_new(&out.join("verify_key.key"), &public, 0o644)?;
    Ok(format!(
        "{}: {}",
        serde_json::Value::from(name),
        serde_json::Value::from(public)
    ))
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeygenError> {
    let error = |source| KeygenError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}
