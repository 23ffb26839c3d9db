//! The TLS server configuration: rustls 0.23 with the ring provider, the
//! certificate chain and key read from PEM files (RSA, ECDSA or Ed25519),
//! and read again on SIGHUP without touching open connections.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why no TLS configuration could be made.
#[derive(Debug)]
pub enum TlsError {
    /// TLS is on but `ssl_cert` or `ssl_key` is not set.
    MissingFiles,
    /// A PEM file (`key` names its config key) cannot be read or parsed.
    Pem {
        key: &'static str,
        path: PathBuf,
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    NoCertificate(PathBuf),
    /// rustls has no protocol version to offer with the ring provider.
    Versions(rustls::Error),
    /// The certificate and the key do not belong together.
    Pair(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::MissingFiles => f.write_str("ssl_cert and ssl_key are required"),
            TlsError::Pem { key, path, .. } => write!(f, "{key} {}", path.display()),
            TlsError::NoCertificate(path) => {
                write!(f, "ssl_cert {}: no certificate in the file", path.display())
            }
            TlsError::Versions(_) => f.write_str("protocol versions"),
            TlsError::Pair(_) => f.write_str("ssl_cert/ssl_key do not form a usable pair"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Pem { source, .. } => Some(source),
            TlsError::Versions(e) | TlsError::Pair(e) => Some(e),
            TlsError::MissingFiles | TlsError::NoCertificate(_) => None,
        }
    }
}

/// The certificate and key, read again on `reload` (SIGHUP): each new
/// handshake takes the current pair, connections already open keep theirs.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Reads the files again; on failure the old pair stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = certified_key(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// The server configuration, and the store its certificate comes from.
pub fn server_config(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<ServerConfig>, Arc<CertStore>), TlsError> {
    let store = Arc::new(CertStore {
        cert: cert.to_owned(),
        key: key.to_owned(),
        current: RwLock::new(certified_key(cert, key)?),
    });
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Versions)?
        .with_no_client_auth()
        .with_cert_resolver(store.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), store))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The chain and key from their PEM files, checked to belong together.
fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| pem_error("ssl_cert", cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("ssl_key", key, e))?;
    let certified = CertifiedKey::from_der(certs, key, &provider()).map_err(TlsError::Pair)?;
    Ok(Arc::new(certified))
}

fn pem_error(key: &'static str, path: &Path, source: pem::Error) -> TlsError {
    TlsError::Pem {
        key,
        path: path.to_owned(),
        source,
    }
}
