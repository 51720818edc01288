//! Connection settings, and the TLS connector they call for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::PgError;

/// The schema used when none is configured.
pub const DEFAULT_SCHEMA: &str = "notify";

/// How to reach the database and where the store's tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// A `postgres://user:password@host:port/database?…` URL (or a libpq `key=value` string).
    ///
    /// `sslmode=require`, `verify-ca` or `verify-full` turn TLS on; the server certificate is
    /// then always verified against the trusted roots and the host name, whatever the mode
    /// says (rustls offers no unverified mode, and a store of audit data should not either).
    pub url: String,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// Transactions applying events at once, each committing, as one batch, the events that
    /// arrived while the others ran (see [`PgStore`](crate::PgStore)). Each holds one of the
    /// pool's connections while it writes; the rest serve reads.
    pub writers: usize,
    /// The schema holding every table, created on first start.
    pub schema: String,
    /// How long to wait for a free connection or for a new one to be established before
    /// reporting the store unavailable.
    pub connect_timeout: Duration,
    /// A PEM file of CA certificates to trust instead of the built-in public roots (for a
    /// server with a private CA).
    pub ca_file: Option<PathBuf>,
}

impl PgConfig {
    /// Settings for `url` with the defaults: 16 connections, 1 writer, schema `notify`,
    /// 5 s timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            pool_size: 16,
            writers: 1,
            schema: DEFAULT_SCHEMA.to_owned(),
            connect_timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    /// The same settings with another schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The same settings with another pool size.
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// The same settings with another number of writers.
    pub fn with_writers(mut self, writers: usize) -> Self {
        self.writers = writers;
        self
    }

    /// Checks the schema name and parses the URL into the driver's configuration, telling
    /// whether TLS was asked for.
    pub(crate) fn parse(&self) -> Result<(tokio_postgres::Config, bool), PgError> {
        check_schema_name(&self.schema)?;
        if self.pool_size == 0 {
            return Err(PgError::Config("pool_size must be at least 1".to_owned()));
        }
        let (url, tls) = normalise_sslmode(&self.url);
        let mut pg: tokio_postgres::Config = url.parse().map_err(PgError::Url)?;
        if pg.get_application_name().is_none() {
            pg.application_name("notify-store-pg");
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(self.connect_timeout);
        }
        Ok((pg, tls))
    }

    /// A rustls client configuration with the ring provider and the configured roots.
    pub(crate) fn tls_connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                use rustls_pki_types::pem::PemObject;
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| PgError::Tls(format!("cannot read {}: {e}", path.display())))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| PgError::Tls(format!("bad PEM in {}: {e}", path.display())))?;
                    roots.add(cert).map_err(|e| PgError::Tls(format!("bad certificate: {e}")))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        // An explicit provider: the process default may be unset, or another one.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| PgError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

/// Schema names are spliced into SQL (quoted): keep them to plain lowercase identifiers.
fn check_schema_name(schema: &str) -> Result<(), PgError> {
    let b = schema.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(PgError::Config(format!("schema name {schema:?} is not [a-z_][a-z0-9_]{{0,62}}")))
    }
}

/// The driver knows `disable`, `prefer` and `require`; libpq URLs also say `verify-ca` and
/// `verify-full`, which rustls always does. Returns the URL the driver accepts and whether
/// TLS is required.
fn normalise_sslmode(url: &str) -> (String, bool) {
    let mut out = url.to_owned();
    for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
        out = out.replace(strict, "sslmode=require");
    }
    let tls = out.contains("sslmode=require");
    (out, tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["notify", "_x", "t_1_abc"] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Notify", "1x", "a-b", "a\"b", "a b", &"a".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_follows_the_url() {
        let parse = |u: &str| PgConfig::new(u).parse().map(|(_, tls)| tls).unwrap();
        assert!(!parse("postgres://u@localhost/db"));
        assert!(!parse("postgres://u@localhost/db?sslmode=disable"));
        assert!(parse("postgres://u@localhost/db?sslmode=require"));
        assert!(parse("postgres://u@localhost/db?sslmode=verify-full&application_name=x"));
        assert!(parse("host=localhost user=u sslmode=verify-ca"));
        assert!(PgConfig::new("postgres://u@h/db").with_schema("Bad").parse().is_err());
    }

    #[test]
    fn the_tls_connector_builds_with_the_public_roots() {
        assert!(PgConfig::new("postgres://h/db?sslmode=require").tls_connector().is_ok());
    }
}
