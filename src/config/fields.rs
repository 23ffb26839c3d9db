//! Typed access to the keys of a JSON object, with errors that name the key.

use super::ConfigError;
use serde_json::{Map, Value};
use std::fmt;
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

    /// The keys of a JSON object (of anything else: none) as if read from
    /// `c.json`, for tests.
    #[cfg(test)]
    pub fn of_json(value: Value) -> Self {
        let map = value.as_object().cloned().unwrap_or_default();
        Fields::new(Path::new("c.json"), map)
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

    /// An integer in `min..=max`, of the type the caller stores (`u16` for
    /// a port, `usize` for a count); a numeric string is accepted too, since
    /// the original's example config quotes `pgport`.
    pub fn int<T>(&mut self, key: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: Copy + PartialOrd + fmt::Display + TryFrom<i64>,
    {
        let n: Option<i64> = match self.map.remove(key) {
            None | Some(Value::Null) => return Ok(default),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        let Some(n) = n else {
            return Err(self.error(key, "expected a whole number"));
        };
        // A number that does not fit `T` is outside `min..=max` too.
        match T::try_from(n) {
            Ok(v) if min <= v && v <= max => Ok(v),
            _ => Err(self.error(key, format!("{n} is out of range {min} to {max}"))),
        }
    }

    /// A number of seconds in `min..=max`, as a `Duration`.
    pub fn secs(
        &mut self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.int(key, default, min, max)?))
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

    /// A list of web origins (`"https://host:port"`, as browsers send them;
    /// `crate::origin`); empty when absent.
    pub fn origin_list(&mut self, key: &str) -> Result<Vec<crate::origin::Origin>, ConfigError> {
        let items = match self.map.remove(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.error(key, format!("expected a list of origins, got {other}")))
            }
        };
        items
            .iter()
            .map(|item| {
                item.as_str().and_then(crate::origin::parse).ok_or_else(|| {
                    let hint = "is not an origin like \"https://lab.example:8888\"";
                    self.error(key, format!("{item} {hint}"))
                })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_of_the_callers_type() {
        let mut f = Fields::of_json(json!({"port": "5433", "big": 70_000, "neg": -1, "x": 1.5}));
        assert_eq!(f.int::<u16>("port", 1, 1, 65_535).unwrap(), 5433);
        assert_eq!(f.int::<u16>("absent", 7, 1, 65_535).unwrap(), 7);
        let err = f.int::<u16>("big", 1, 1, 65_535).unwrap_err();
        assert_eq!(err.problem, "70000 is out of range 1 to 65535");
        let err = f.secs("neg", 1, 1, 60).unwrap_err();
        assert_eq!(err.problem, "-1 is out of range 1 to 60");
        let err = f.int::<usize>("x", 1, 1, 9).unwrap_err();
        assert_eq!(err.problem, "expected a whole number");
    }
}
