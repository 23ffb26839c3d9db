//! The JSON configuration: every key of the original platform with the same
//! meaning, plus optional keys (limits, timeouts, lifetimes) with defaults.
//!
//! [`Config::load`] reads and validates the whole file up front; an error
//! names the file, the key and the problem, and is printed as one line.

use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod fields;
mod host;
mod limits;
mod mail;
mod oidc;
mod permissions;
mod templates;
mod totp;
mod verification;
use fields::Fields;
pub use limits::{AttemptLimits, LaneConfig};
pub use mail::{ResetConfig, SmtpConfig, SmtpSecurity};
pub use oidc::{JwksSource, OidcConfig, GOOGLE_ISSUER};
pub use permissions::{ModulePermissions, Permission, RequestType};
pub use templates::TemplateLimits;
pub use totp::{SecretKey, TotpConfig};
pub use verification::VerificationConfig;

/// `log_format`: `text` (the default) or `json`.
fn log_json(f: &mut Fields) -> Result<bool, ConfigError> {
    match f.string_or("log_format", "text")?.as_str() {
        "text" => Ok(false),
        "json" => Ok(true),
        other => Err(f.error("log_format", format!("'{other}' is not 'text' or 'json'"))),
    }
}

/// Connection details of the PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgConfig {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub pool_size: u32,
    /// A pooled connection idle this long is closed (the pool checks every
    /// 30 s), so that a burst does not keep `pool_size` connections open.
    pub pool_idle: Duration,
    /// How long a request waits for a pooled connection before answering 503.
    pub checkout_timeout: Duration,
}

#[cfg(test)]
impl PgConfig {
    /// A database nothing answers for (port 1), for tests of what happens
    /// without one; a checkout gives up after `checkout_timeout`.
    pub fn unreachable(checkout_timeout: Duration) -> PgConfig {
        PgConfig {
            user: "nobody".into(),
            password: String::new(),
            host: "127.0.0.1".into(),
            port: 1,
            dbname: "nothing".into(),
            pool_size: 1,
            pool_idle: Duration::from_secs(30),
            checkout_timeout,
        }
    }
}

/// The account that `--create_admin` makes.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    pub username: String,
    pub password: String,
    pub email: String,
}

/// Limits of the module hub's WebSocket connections.
#[derive(Clone, Debug)]
pub struct HubConfig {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub max_frame_bytes: usize,
    /// Outgoing messages queued per module before it counts as stuck.
    pub queue_len: usize,
    /// Bad messages in a row after which a connection is closed.
    pub max_bad_messages: u32,
    /// Envelope ids remembered for replay protection (bounds memory).
    pub replay_capacity: usize,
    /// How long a module connection may go without a valid signed envelope.
    pub auth_timeout: Duration,
    /// Module connections that have not authenticated yet, at most.
    pub max_unauthenticated: usize,
    /// Broadcasts held for a connection that names a module but has not
    /// signed yet, at most; and how long one is held. A connection naming a
    /// module with a key may stay unsigned this long too (when longer than
    /// `auth_timeout`), so that what it holds is still fresh when it signs.
    pub hold_messages: usize,
    pub hold: Duration,
    /// Web origins besides our own whose pages may open a WebSocket here.
    pub allowed_origins: Vec<crate::origin::Origin>,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The file this was read from; relative paths in it are resolved
    /// against its folder.
    pub path: PathBuf,
    pub tls: bool,
    pub ssl_cert: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    pub bind: IpAddr,
    pub port: u16,
    pub public_url: Option<String>,
    /// Scheme of the links to modules' own pages (`http` or `https`);
    /// `None`: the scheme the browser reached the platform with.
    pub module_link_scheme: Option<String>,
    pub verify_keys: PathBuf,
    pub pg: PgConfig,
    pub admin: Option<AdminConfig>,
    pub cookie_secret: String,
    /// `Secure` on the session cookie as configured; `None`: decided by
    /// [`Config::cookie_secure`].
    pub cookie_secure_setting: Option<bool>,
    pub token_ttl: Duration,
    pub session_max: Duration,
    /// How often the janitor ends expired sessions (and reports them).
    pub session_sweep: Duration,
    /// Characters of a login's user agent kept with its session.
    pub session_user_agent_max: usize,
    /// Audit entries older than this many days are deleted by the janitor.
    pub audit_retention_days: u32,
    /// Audit entries that may wait for the `audit` thread.
    pub audit_queue: usize,
    pub bcrypt_cost: u32,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client; exempt
    /// from the per-address connection cap.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub header_timeout: Duration,
    /// How long a whole request (head and body) may take to arrive.
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long a stop waits for requests in flight and module connections.
    pub shutdown: Duration,
    pub max_body_bytes: usize,
    /// Size and number of the templates modules store.
    pub templates: TemplateLimits,
    pub worker_threads: usize,
    pub hash_threads: usize,
    pub hash_queue: usize,
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    /// Per-address places in the slow lanes, and the outbound lane's size.
    pub lanes: LaneConfig,
    /// Registration and login-failure limits per address and account.
    pub attempts: AttemptLimits,
    pub hub: HubConfig,
    /// What each module may ask and hear (`module_permissions`).
    pub module_permissions: ModulePermissions,
    /// Outgoing mail; `None` turns password reset by mail off.
    pub smtp: Option<SmtpConfig>,
    pub reset: ResetConfig,
    pub verification: VerificationConfig,
    /// Sign-in with Google / OpenID Connect; `None` turns it off.
    pub oidc: Option<OidcConfig>,
    /// `log_format`: one line of text per event, or one JSON object.
    pub log_json: bool,
    /// Two-factor sign-in with TOTP (`totp_*` keys).
    pub totp: TotpConfig,
}

/// A configuration that cannot be used.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub key: Option<String>,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(
                f,
                "config {}: key '{key}': {}",
                self.path.display(),
                self.problem
            ),
            None => write!(f, "config {}: {}", self.path.display(), self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let whole = |problem: String| ConfigError {
            path: path.to_owned(),
            key: None,
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| whole(e.to_string()))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| whole(e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(whole("expected a JSON object".into()));
        };
        Self::from_map(path, map)
    }

    /// Validates an already parsed configuration; `path` names it in errors.
    pub fn from_map(path: &Path, map: Map<String, Value>) -> Result<Config, ConfigError> {
        let mut f = Fields::new(path, map);
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        let config = Config {
            path: path.to_owned(),
            tls: f.bool("tls", true)?,
            ssl_cert: f.opt_string("ssl_cert")?.map(|p| base.join(p)),
            ssl_key: f.opt_string("ssl_key")?.map(|p| base.join(p)),
            bind: f.parsed("bind", "0.0.0.0")?,
            port: f.int("port", 8888, 0, 65_535)?,
            public_url: f.opt_string("public_url")?,
            module_link_scheme: f.opt_string("module_link_scheme")?,
            verify_keys: base.join(f.string_or("verify_keys", "verify_keys.json")?),
            pg: PgConfig {
                user: f.string("pguser")?,
                password: f.string_or("pgpassword", "")?,
                host: f.string_or("pghost", "localhost")?,
                port: f.int("pgport", 5432, 1, 65_535)?,
                dbname: f.string("pgdb")?,
                pool_size: f.int("pg_pool_size", 16, 1, 1000)?,
                pool_idle: f.secs("pg_pool_idle_seconds", 30, 1, 86_400)?,
                checkout_timeout: f.secs("pg_checkout_timeout_seconds", 3, 1, 600)?,
            },
            admin: admin(&mut f)?,
            cookie_secret: f.string("cookie_secret")?,
            cookie_secure_setting: f.opt_bool("cookie_secure")?,
            token_ttl: f.secs("token_ttl_seconds", 3600, 1, 31 * 86_400)?,
            session_max: f.secs("session_max_seconds", 43_200, 1, 31 * 86_400)?,
            session_sweep: f.secs("session_sweep_seconds", 60, 1, 86_400)?,
            session_user_agent_max: f.int("session_user_agent_max_chars", 256, 0, 4096)?,
            audit_retention_days: f.int("audit_retention_days", 90, 1, 36_500)?,
            audit_queue: f.int("audit_queue", 65_536, 16, 10_000_000)?,
            bcrypt_cost: f.int("bcrypt_cost", 12, 4, 31)?,
            max_connections: f.int("max_connections", 1024, 1, 1_000_000)?,
            max_connections_per_ip: f.int("max_connections_per_ip", 256, 1, 1_000_000)?,
            trusted_proxies: f.ip_list("trusted_proxies")?,
            header_timeout: f.secs("header_timeout_seconds", 10, 1, 3600)?,
            body_timeout: f.secs("body_timeout_seconds", 20, 1, 3600)?,
            idle_timeout: f.secs("idle_timeout_seconds", 60, 1, 86_400)?,
            shutdown: f.secs("shutdown_seconds", 10, 0, 3600)?,
            max_body_bytes: f.int("max_body_bytes", 1 << 20, 1024, 1 << 30)?,
            templates: templates::templates(&mut f)?,
            worker_threads: f.int("worker_threads", default_workers(), 1, 1024)?,
            hash_threads: f.int("hash_threads", default_hash_threads(), 1, 256)?,
            hash_queue: f.int("hash_queue", 256, 1, 100_000)?,
            login_max_failures: f.int("login_max_failures", 10, 1, 1_000_000)?,
            login_failure_window: f.secs("login_failure_window_seconds", 900, 1, 86_400)?,
            lanes: limits::lanes(&mut f)?,
            attempts: limits::attempts(&mut f)?,
            hub: HubConfig {
                ping_interval: f.secs("hub_ping_interval_seconds", 30, 1, 3600)?,
                ping_timeout: f.secs("hub_ping_timeout_seconds", 60, 1, 3600)?,
                max_frame_bytes: f.int("hub_max_frame_bytes", 64 << 10, 1024, 16 << 20)?,
                queue_len: f.int("hub_queue_len", 1024, 1, 1_000_000)?,
                max_bad_messages: f.int("hub_max_bad_messages", 100, 1, 1_000_000)?,
                replay_capacity: f.int("hub_replay_capacity", 200_000, 1, 100_000_000)?,
                auth_timeout: f.secs("hub_auth_timeout_seconds", 10, 1, 3600)?,
                max_unauthenticated: f.int("hub_max_unauthenticated", 64, 1, 1_000_000)?,
                hold_messages: f.int("hub_hold_messages", 256, 0, 100_000)?,
                hold: f.secs("hub_hold_seconds", 30, 1, 3600)?,
                allowed_origins: f.origin_list("websocket_allowed_origins")?,
            },
            module_permissions: permissions::module_permissions(&mut f)?,
            smtp: mail::smtp(&mut f, &base)?,
            reset: mail::reset(&mut f)?,
            verification: verification::verification(&mut f)?,
            oidc: oidc::oidc(&mut f, &base)?,
            log_json: log_json(&mut f)?,
            totp: totp::totp(&mut f, &base)?,
        };
        config.check(&mut f)?;
        for key in f.unknown_keys() {
            log::warn!("config {}: unknown key '{key}' ignored", path.display());
        }
        Ok(config)
    }

    fn check(&self, f: &mut Fields) -> Result<(), ConfigError> {
        if self.tls && (self.ssl_cert.is_none() || self.ssl_key.is_none()) {
            let key = if self.ssl_cert.is_none() {
                "ssl_cert"
            } else {
                "ssl_key"
            };
            return Err(f.error(
                key,
                "missing: TLS needs ssl_cert and ssl_key (or set \"tls\": false behind a proxy)",
            ));
        }
        if let Some(scheme) = &self.module_link_scheme {
            if scheme != "http" && scheme != "https" {
                return Err(f.error(
                    "module_link_scheme",
                    format!("'{scheme}': expected \"http\" or \"https\""),
                ));
            }
        }
        if self.verification.required && self.smtp.is_none() {
            let why = "true needs the smtp section: verification links go by mail";
            return Err(f.error("require_email_verification", why));
        }
        if self.cookie_secret.len() < 16 {
            return Err(f.error("cookie_secret", "must be at least 16 characters"));
        }
        if self.session_max < self.token_ttl {
            return Err(f.error(
                "session_max_seconds",
                "must not be shorter than token_ttl_seconds",
            ));
        }
        if self.cookie_secure_setting == Some(false) && self.browsers_use_https() {
            log::warn!(
                "config {}: cookie_secure is false: browsers also send the session cookie over plain HTTP",
                self.path.display()
            );
        }
        Ok(())
    }

    /// The certificate and key files when TLS is on. [`Config::load`]
    /// refuses `tls` without both, so `None` means TLS is off.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        match (&self.ssl_cert, &self.ssl_key) {
            (Some(cert), Some(key)) if self.tls => Some((cert, key)),
            _ => None,
        }
    }

    /// Whether the session cookie carries `Secure`: as `cookie_secure` says,
    /// else when browsers reach the platform over HTTPS (TLS here, or a
    /// TLS-terminating proxy that `public_url` names). Without it, a module
    /// served over plain HTTP on another port gets the cookie, and so does
    /// anyone on the network path.
    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure_setting
            .unwrap_or_else(|| self.browsers_use_https())
    }

    fn browsers_use_https(&self) -> bool {
        self.tls || self.public_url().starts_with("https://")
    }

    /// The URL users reach the platform at, used in links sent by mail.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.tls { "https" } else { "http" };
                format!("{scheme}://localhost:{}", self.port)
            }
        }
    }
}

fn admin(f: &mut Fields) -> Result<Option<AdminConfig>, ConfigError> {
    let username = f.opt_string("platform_admin_username")?;
    let password = f.opt_string("platform_admin_password")?;
    let email = f.opt_string("platform_admin_email")?;
    Ok(match (username, password, email) {
        (Some(username), Some(password), Some(email)) => Some(AdminConfig {
            username,
            password,
            email,
        }),
        _ => None,
    })
}

/// Workers mostly wait (on PostgreSQL, on the socket), so a few per core;
/// more only add scheduling and made the p99 worse in docs/benchmarks.md.
fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 4).max(4)
}

/// Half the cores hash passwords at most, so a burst of logins leaves the
/// other half to everything else.
fn default_hash_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).max(1)
}
