//! Typed access to the keys of a JSON object, with errors that name the key.

use super::ConfigError;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub struct Fields {
    path: PathBuf,
    map: Map<String, Value>,
    /// `"smtp."` inside a section, so errors name the whole key.
    prefix: String,
}

impl Fields {
    pub fn new(path: &Path, map: Map<String, Value>) -> Self {
        Fields {
            path: path.to_owned(),
            map,
            prefix: String::new(),
        }
    }

    /// The object under `key` (`"smtp": {...}`) as fields of its own;
    /// `None` when the key is absent or null.
    pub fn section(&mut self, key: &str) -> Result<Option<Fields>, ConfigError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields {
                path: self.path.clone(),
                map,
                prefix: format!("{}{key}.", self.prefix),
            })),
            Some(other) => Err(self.error(key, format!("expected an object, got {other}"))),
        }
    }

    /// Warns about the keys of a section nobody asked for.
    pub fn warn_unknown(&self) {
        for key in self.map.keys() {
            log::warn!(
                "config {}: unknown key '{}{key}' ignored",
                self.path.display(),
                self.prefix
            );
        }
    }

    pub fn error(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.clone(),
            key: Some(format!("{}{key}", self.prefix)),
            problem: problem.into(),
        }
    }

    /// Keys nobody asked for: typos, or keys of a newer version.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }

    /// The raw value under `key`, for sections parsed by their own rules.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    pub fn opt_string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.error(key, format!("expected a string, got {other}"))),
        }
    }

    pub fn string(&mut self, key: &str) -> Result<String, ConfigError> {
        self.opt_string(key)?
            .ok_or_else(|| self.error(key, "missing"))
    }

    pub fn string_or(&mut self, key: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.to_owned()))
    }

    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        Ok(self.opt_bool(key)?.unwrap_or(default))
    }

    /// `true` or `false`; `None` when absent or null (a default that depends
    /// on other keys).
    pub fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.error(key, format!("expected true or false, got {other}"))),
        }
    }

    /// An integer in `min..=max`; a numeric string is accepted too, since the
    /// original's example config quotes `pgport`.
    pub fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
        let n = match self.map.remove(key) {
            None | Some(Value::Null) => return Ok(default),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(n) => Err(self.error(key, format!("{n} is out of range {min} to {max}"))),
            None => Err(self.error(key, "expected a whole number")),
        }
    }

    pub fn secs(
        &mut self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        let n = self.int(key, default as i64, min as i64, max as i64)?;
        Ok(Duration::from_secs(n as u64))
    }

    /// A list of IP addresses (strings); empty when absent.
    pub fn ip_list(&mut self, key: &str) -> Result<Vec<std::net::IpAddr>, ConfigError> {
        let items = match self.map.remove(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.error(key, format!("expected a list of addresses, got {other}")))
            }
        };
        items
            .iter()
            .map(|item| {
                item.as_str()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| self.error(key, format!("{item} is not an IP address")))
            })
            .collect()
    }

    pub fn parsed<T: FromStr>(&mut self, key: &str, default: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.string_or(key, default)?;
        text.parse()
            .map_err(|e| self.error(key, format!("'{text}': {e}")))
    }
}
