//! The SMTP connection settings, built once at start-up so that a bad
//! `smtp` section stops the server with a message naming the key.

use crate::config::{ConfigError, SmtpConfig, SmtpSecurity};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::SmtpTransport;
use std::path::Path;

/// A synchronous SMTP transport; every send opens its own connection (no
/// pool: reset mails are rare, and a stale pooled connection is one more
/// way to fail).
pub fn build(
    cfg: &SmtpConfig,
    config_path: &Path,
    hello: &str,
) -> Result<SmtpTransport, ConfigError> {
    let error = |key: &str, problem: String| ConfigError {
        path: config_path.to_owned(),
        key: Some(format!("smtp.{key}")),
        problem,
    };
    // `builder_dangerous` only means "no TLS chosen yet": TLS is set below.
    let mut builder = SmtpTransport::builder_dangerous(&cfg.host)
        .port(cfg.port)
        .timeout(Some(cfg.timeout))
        .hello_name(ClientId::Domain(hello.to_owned()));
    if cfg.security != SmtpSecurity::None {
        let mut params = TlsParameters::builder(cfg.host.clone());
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| error("ca_file", format!("{}: {e}", path.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| error("ca_file", format!("{}: {e}", path.display())))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| error("host", format!("TLS set-up: {e}")))?;
        builder = builder.tls(match cfg.security {
            SmtpSecurity::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let Some((user, password)) = &cfg.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}
