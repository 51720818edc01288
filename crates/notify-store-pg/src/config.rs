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
    /// When an event's projections are written: before it is acknowledged, or behind it.
    pub projection: Projection,
    /// With [`Projection::Deferred`]: how many events (queued by this process) may wait to
    /// be projected. At it, new deliveries wait for the projector to make room, so that
    /// under a load the projection cannot follow, acknowledgements slow to its pace and a
    /// read waits for at most about this many events to be projected.
    pub max_lag: usize,
    /// With [`Projection::Deferred`]: how long the projector may give way to a burst
    /// (several deliveries in progress at once) before it projects alongside it. A burst
    /// shorter than this, and under `max_lag` events, is acknowledged at the rate of the
    /// queue alone; traffic from one sender at a time is projected as it comes.
    pub max_delay: Duration,
    /// With [`Projection::Deferred`]: how long a projector woken by new events lets more
    /// gather before it projects them, unless a full batch (512) is queued sooner. Fewer,
    /// larger projections cost the database less per event, and each of them slows the
    /// acknowledgements that commit while it runs (one sender's p99 at 50 ms and at 500 ms
    /// are compared in `docs/benchmarks.md`). Reads do not wait for it, since each projects
    /// what it needs first; it bounds only how far behind the tables look to SQL that reads
    /// them directly. `0` projects as soon as woken.
    pub gather: Duration,
    /// With [`Projection::Deferred`]: transactions projecting the queue at once, at most.
    /// The first projects whenever there is something to; each further one joins it only
    /// while it works and two full batches (1,024 events) or more are queued, so steady
    /// traffic is projected by one, as with `1`. One projection keeps one core of the
    /// database busy: under a load it cannot follow, a second lets acknowledgements go as
    /// fast as two (1.3 to 1.6 times as fast with 32 writers on 2 cores, in
    /// `docs/benchmarks.md`). Each further one takes a connection of the pool only while
    /// another stays free and nobody waits for one: the writers and reads come first.
    /// Each takes first the events of its own share of the repositories (its lane), so
    /// that two seldom update the same rows at once.
    pub projectors: usize,
}

/// When the projections of an event (its log row, content, links, tags, counters) are
/// written.
///
/// Either way an event is acknowledged only once it is durable, every redelivery is a
/// duplicate, and every read sees every acknowledged event: the modes differ in cost and in
/// where the waiting happens, not in what the `Storage` trait answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Projection {
    /// In the transaction that stores the event: an acknowledgement waits for every
    /// projection.
    Inline,
    /// Behind it: the event's plan is queued durably (one small row) and acknowledged; a
    /// projector task writes the projections in large batches, and a read first projects
    /// whatever is still queued. Acknowledgements cost a fraction of the database time, and
    /// bursts are absorbed by the queue; a read that arrives during one waits for it.
    #[default]
    Deferred,
}

impl Projection {
    /// The spelling of the `projection` URL parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Projection::Inline => "inline",
            Projection::Deferred => "deferred",
        }
    }
}

impl PgConfig {
    /// Settings for `url` with the defaults: 16 connections, 1 writer, schema `notify`,
    /// deferred projection (at most 10,000 events behind, giving way to a burst for at most
    /// 1 s, gathering for 500 ms, 2 projectors), 5 s timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            pool_size: 16,
            writers: 1,
            schema: DEFAULT_SCHEMA.to_owned(),
            connect_timeout: Duration::from_secs(5),
            ca_file: None,
            projection: Projection::default(),
            max_lag: 10_000,
            max_delay: Duration::from_secs(1),
            gather: Duration::from_millis(500),
            projectors: 2,
        }
    }

    /// Settings from a store URL, which may carry the store's own settings as query
    /// parameters beside the driver's:
    ///
    /// | parameter | setting |
    /// |---|---|
    /// | `schema` | [`schema`](Self::schema) |
    /// | `pool_size` | [`pool_size`](Self::pool_size) |
    /// | `writers` | [`writers`](Self::writers) |
    /// | `sslrootcert` | [`ca_file`](Self::ca_file) (libpq's name for it) |
    /// | `projection` | [`projection`](Self::projection): `inline` or `deferred` |
    /// | `max_lag` | [`max_lag`](Self::max_lag) |
    /// | `max_delay_ms` | [`max_delay`](Self::max_delay), in milliseconds |
    /// | `gather_ms` | [`gather`](Self::gather), in milliseconds (0 allowed) |
    /// | `projectors` | [`projectors`](Self::projectors) |
    ///
    /// They are taken out of the URL, and the rest (`sslmode`, `application_name`, …) goes to
    /// the driver as given. A value the store cannot use is refused here, naming the
    /// parameter. A libpq `key=value` string is taken as it is, with the defaults.
    ///
    /// ```
    /// use notify_store_pg::PgConfig;
    /// let c = PgConfig::from_url("postgres://notify@db/registry?sslmode=require&schema=prod&pool_size=32").unwrap();
    /// assert_eq!((c.schema.as_str(), c.pool_size), ("prod", 32));
    /// assert_eq!(c.url, "postgres://notify@db/registry?sslmode=require");
    /// assert!(PgConfig::from_url("postgres://db/registry?writers=none").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<Self, PgError> {
        let mut config = PgConfig::new(url);
        let Some((base, query)) = url.split_once('?') else { return Ok(config) };
        if !base.contains("://") {
            return Ok(config);
        }
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = || {
                percent_encoding::percent_decode_str(raw)
                    .decode_utf8()
                    .map(|v| v.into_owned())
                    .map_err(|_| PgError::Config(format!("URL parameter {key}: not UTF-8 once decoded")))
            };
            let count = || {
                value()?.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    PgError::Config(format!("URL parameter {key}: {raw:?} is not a whole number above 0"))
                })
            };
            match key {
                "schema" => config.schema = value()?,
                "pool_size" => config.pool_size = count()?,
                "writers" => config.writers = count()?,
                "max_lag" => config.max_lag = count()?,
                "projectors" => config.projectors = count()?,
                "max_delay_ms" => config.max_delay = Duration::from_millis(count()? as u64),
                "gather_ms" => {
                    config.gather = Duration::from_millis(value()?.parse().map_err(|_| {
                        PgError::Config(format!("URL parameter {key}: {raw:?} is not a whole number"))
                    })?);
                }
                "sslrootcert" => config.ca_file = Some(PathBuf::from(value()?)),
                "projection" => {
                    config.projection = match value()?.as_str() {
                        "inline" => Projection::Inline,
                        "deferred" => Projection::Deferred,
                        other => {
                            return Err(PgError::Config(format!(
                                "URL parameter projection: {other:?} is neither \"inline\" nor \"deferred\""
                            )));
                        }
                    }
                }
                _ => kept.push(pair),
            }
        }
        config.url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        check_schema_name(&config.schema)?;
        Ok(config)
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

    /// The same settings with another number of projectors.
    pub fn with_projectors(mut self, projectors: usize) -> Self {
        self.projectors = projectors;
        self
    }

    /// The same settings with another projection mode.
    pub fn with_projection(mut self, projection: Projection) -> Self {
        self.projection = projection;
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
    fn store_parameters_are_taken_out_of_the_url() {
        let c = PgConfig::from_url(
            "postgres://u:p%40ss@h:5433/db?application_name=a&schema=s_1&pool_size=4&writers=2&sslrootcert=%2Fetc%2Fca%20x.pem&sslmode=verify-full&projection=inline&max_lag=500&max_delay_ms=250&gather_ms=0&projectors=3",
        )
        .unwrap();
        assert_eq!(c.url, "postgres://u:p%40ss@h:5433/db?application_name=a&sslmode=verify-full");
        assert_eq!((c.schema.as_str(), c.pool_size, c.writers), ("s_1", 4, 2));
        assert_eq!(
            (c.projection, c.max_lag, c.max_delay, c.gather, c.projectors),
            (Projection::Inline, 500, Duration::from_millis(250), Duration::ZERO, 3)
        );
        assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca x.pem")));
        assert!(c.parse().unwrap().1, "TLS still follows sslmode");

        let plain = PgConfig::from_url("postgresql://h/db").unwrap();
        assert_eq!(plain, PgConfig::new("postgresql://h/db"));
        let only_ours = PgConfig::from_url("postgres://h/db?schema=x").unwrap();
        assert_eq!(only_ours.url, "postgres://h/db");
        let libpq = "host=h dbname=db sslmode=require";
        assert_eq!(PgConfig::from_url(libpq).unwrap(), PgConfig::new(libpq));

        for (bad, names) in [
            ("postgres://h/db?pool_size=0", "pool_size"),
            ("postgres://h/db?writers=x", "writers"),
            ("postgres://h/db?pool_size=", "pool_size"),
            ("postgres://h/db?schema=Bad", "schema"),
            ("postgres://h/db?schema=%FF", "schema"),
            ("postgres://h/db?projection=later", "projection"),
            ("postgres://h/db?gather_ms=-1", "gather_ms"),
            ("postgres://h/db?projectors=0", "projectors"),
        ] {
            let e = PgConfig::from_url(bad).unwrap_err().to_string();
            assert!(e.contains(names), "{bad}: {e}");
        }
    }

    #[test]
    fn the_tls_connector_builds_with_the_public_roots() {
        assert!(PgConfig::new("postgres://h/db?sslmode=require").tls_connector().is_ok());
    }
}
