//! What a module client is told ([`Options`]) and how it fails
//! ([`ClientError`]).

use std::fmt;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Options {
    /// `wss://host:8888/websocket`.
    pub url: String,
    /// The name in the platform's verify_keys.json.
    pub module: String,
    /// Content of `signing_key.key` (base64 of the 32-byte seed).
    pub signing_key: String,
    /// The port this module serves on, announced in `module_start`.
    pub port: u16,
    /// A full URL for the platform's pages to link to, if not host:port.
    pub public_url: Option<String>,
    /// Trust this PEM certificate instead of the usual web roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Connect and request timeout.
    pub timeout: Duration,
    /// A cached token the platform has not confirmed for this long is
    /// validated again before it is served: the bound on how long a missed
    /// message can keep an ended session alive in the module. The
    /// revalidation also renews the session on the platform, for a user
    /// active on this module's pages only.
    pub revalidate_after: Duration,
}

impl Options {
    /// The default of [`Options::revalidate_after`].
    pub const REVALIDATE_AFTER: Duration = Duration::from_secs(60);

    /// Options with the defaults: no public URL, the web's root
    /// certificates, a 5 s timeout, revalidation after a minute.
    pub fn new(url: &str, module: &str, signing_key: &str, port: u16) -> Options {
        Options {
            url: url.to_owned(),
            module: module.to_owned(),
            signing_key: signing_key.to_owned(),
            port,
            public_url: None,
            ca_pem: None,
            timeout: Duration::from_secs(5),
            revalidate_after: Self::REVALIDATE_AFTER,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    Key(String),
    Connect(String),
    Closed(String),
    Timeout,
    /// The platform refused `module_start` (`already_running`, say).
    Refused(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Key(e) => write!(f, "signing key: {e}"),
            ClientError::Connect(e) => write!(f, "cannot connect: {e}"),
            ClientError::Closed(e) => write!(f, "connection closed: {e}"),
            ClientError::Timeout => write!(f, "no reply in time"),
            ClientError::Refused(e) => write!(f, "platform refused: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}
