//! Store selection: the scheme of the store URL picks the backend behind `Arc<dyn Storage>`.
//!
//! | scheme | backend |
//! |---|---|
//! | `memory://` | [`notify_core::MemoryStore`], in-process and **not durable**: every event is lost when the process stops, and replicas do not share it. For trying the server out and for tests. |
//! | `postgres://`, `postgresql://` | PostgreSQL (crate `notify-store-pg`); the schema is created or upgraded on connect; `schema`, `pool_size`, `writers` and `sslrootcert` in the URL's query set the store's options ([`PgConfig::from_url`](notify_store_pg::PgConfig::from_url)) |
//! | `mongodb://`, `mongodb+srv://` | MongoDB 5.0+ (crate `notify-store-mongo`); the database is the URL's path (default `notify`), indexes are created on connect |
//! | `sqlite://./notify.db`, `sqlite:///abs/path.db` | the embedded store (crate `notify-store-sqlite`): one durable file, no database to run; the default |
//!
//! The rest of the server sees only the [`Storage`] trait, so this module is the one place
//! that knows which backends exist.

use std::sync::Arc;

use notify_core::{MemoryStore, Storage};
#[cfg(feature = "mongo")]
use notify_store_mongo::{MongoConfig, MongoStore};
#[cfg(feature = "postgres")]
use notify_store_pg::{PgConfig, PgStore};
#[cfg(feature = "sqlite")]
use notify_store_sqlite::SqliteStore;

/// The store used when none is configured: the embedded durable store, a file in the current
/// directory, so that the first run needs no infrastructure.
pub const DEFAULT_STORE_URL: &str = "sqlite://./notify.db";

/// The backend a store URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// In-process, not durable.
    Memory,
    /// PostgreSQL.
    Postgres,
    /// MongoDB.
    Mongo,
    /// The embedded store.
    Sqlite,
}

/// Why a store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL's scheme names no backend.
    #[error(
        "unsupported store URL scheme in {0:?}: use sqlite://, postgres:// (or postgresql://), mongodb:// (or mongodb+srv://) or memory://"
    )]
    UnknownScheme(String),
    /// This build was made without the backend (a cargo feature of `notify-server`).
    #[error("this build of notify-server has no {0} store (cargo feature `{1}`)")]
    NotBuilt(&'static str, &'static str),
    /// The backend failed to connect or prepare.
    #[error("cannot open the store {url}: {message}")]
    Open {
        /// The URL, password removed.
        url: String,
        /// The backend's error with its causes.
        message: String,
    },
}

impl StoreKind {
    /// The backend a URL names, from its scheme.
    pub fn of(url: &str) -> Result<Self, StoreError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("memory") => Ok(StoreKind::Memory),
            Some("postgres" | "postgresql") => Ok(StoreKind::Postgres),
            Some("sqlite") => Ok(StoreKind::Sqlite),
            Some("mongodb" | "mongodb+srv") => Ok(StoreKind::Mongo),
            _ => Err(StoreError::UnknownScheme(redact_url(url))),
        }
    }
}

/// Checks a store URL without connecting: its scheme, and the options it carries for the
/// backend. What is wrong is reported at start, with every other problem of the configuration.
pub fn check(url: &str) -> Result<StoreKind, StoreError> {
    let kind = StoreKind::of(url)?;
    #[cfg(feature = "postgres")]
    if kind == StoreKind::Postgres {
        PgConfig::from_url(url).map_err(|e| open_error(url, &e))?;
    }
    Ok(kind)
}

/// Opens the store a URL names.
pub async fn open(url: &str) -> Result<Arc<dyn Storage>, StoreError> {
    match StoreKind::of(url)? {
        StoreKind::Memory => {
            tracing::warn!(
                "store is memory://: events are kept in this process only and are lost when it stops; \
                 configure a durable store (postgres://…) for real use"
            );
            Ok(Arc::new(MemoryStore::new()))
        }
        StoreKind::Postgres => open_postgres(url).await,
        StoreKind::Mongo => open_mongo(url).await,
        StoreKind::Sqlite => open_sqlite(url).await,
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str) -> Result<Arc<dyn Storage>, StoreError> {
    let store = SqliteStore::open_url(url).await.map_err(|e| open_error(url, &e))?;
    tracing::info!(file = %store.path().display(), "opened the embedded store");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_: &str) -> Result<Arc<dyn Storage>, StoreError> {
    Err(StoreError::NotBuilt("embedded (sqlite://)", "sqlite"))
}

#[cfg(feature = "mongo")]
async fn open_mongo(url: &str) -> Result<Arc<dyn Storage>, StoreError> {
    let store = MongoStore::connect(&mongo_config(url)).await.map_err(|e| open_error(url, &e))?;
    tracing::info!(store = %redact_url(url), transactions = store.uses_transactions(), "connected to MongoDB");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "mongo"))]
async fn open_mongo(_: &str) -> Result<Arc<dyn Storage>, StoreError> {
    Err(StoreError::NotBuilt("MongoDB", "mongo"))
}

/// Prepares the store's schema (the `migrate` subcommand). Returns what was done.
pub async fn migrate(url: &str) -> Result<String, StoreError> {
    match StoreKind::of(url)? {
        StoreKind::Memory => Ok("memory:// needs no migration: nothing to do".to_owned()),
        StoreKind::Postgres => migrate_postgres(url).await,
        StoreKind::Mongo => migrate_mongo(url).await,
        StoreKind::Sqlite => migrate_sqlite(url).await,
    }
}

#[cfg(feature = "sqlite")]
async fn migrate_sqlite(url: &str) -> Result<String, StoreError> {
    // Opening brings the file's schema to the latest version.
    let store = SqliteStore::open_url(url).await.map_err(|e| open_error(url, &e))?;
    let version = store.schema_version().await.map_err(|e| open_error(url, &e))?;
    Ok(format!("{} is at schema version {version}", store.path().display()))
}

#[cfg(not(feature = "sqlite"))]
async fn migrate_sqlite(_: &str) -> Result<String, StoreError> {
    Err(StoreError::NotBuilt("embedded (sqlite://)", "sqlite"))
}

#[cfg(feature = "mongo")]
async fn migrate_mongo(url: &str) -> Result<String, StoreError> {
    // Connecting creates the indexes and finishes events left pending by a crash.
    let config = mongo_config(url);
    MongoStore::connect(&config).await.map_err(|e| open_error(url, &e))?;
    Ok(format!("indexes of database {} on {} are in place", config.database, redact_url(url)))
}

#[cfg(not(feature = "mongo"))]
async fn migrate_mongo(_: &str) -> Result<String, StoreError> {
    Err(StoreError::NotBuilt("MongoDB", "mongo"))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_: &str) -> Result<Arc<dyn Storage>, StoreError> {
    Err(StoreError::NotBuilt("PostgreSQL", "postgres"))
}

#[cfg(not(feature = "postgres"))]
async fn migrate_postgres(_: &str) -> Result<String, StoreError> {
    Err(StoreError::NotBuilt("PostgreSQL", "postgres"))
}

// PostgreSQL. `connect` brings the schema to the latest version itself (safe with several
// replicas starting at once), so `serve` needs no separate `migrate` step; `migrate` exists for
// deployments that prepare the database before rolling out servers.
#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn Storage>, StoreError> {
    let config = PgConfig::from_url(url).map_err(|e| open_error(url, &e))?;
    let store = PgStore::connect(&config).await.map_err(|e| open_error(url, &e))?;
    tracing::info!(store = %redact_url(url), schema = store.schema(), "connected to PostgreSQL");
    // PostgreSQL's defaults cost the store more and more as its tables grow; say so at the
    // start rather than let an operator find out from a slowing server. Advice only: a
    // server that cannot read them (a restricted role) starts all the same.
    match store.server_settings().await {
        Ok(settings) => {
            for advice in settings.advice() {
                tracing::warn!(
                    setting = advice.setting,
                    current = %advice.current,
                    advised = advice.advised,
                    "PostgreSQL setting below what sustained traffic needs (see the user guide, *Stores*)"
                );
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read PostgreSQL's settings"),
    }
    Ok(Arc::new(store))
}

#[cfg(feature = "postgres")]
async fn migrate_postgres(url: &str) -> Result<String, StoreError> {
    let config = PgConfig::from_url(url).map_err(|e| open_error(url, &e))?;
    let store = PgStore::connect_without_migrating(&config).map_err(|e| open_error(url, &e))?;
    let applied = store.migrate().await.map_err(|e| open_error(url, &e))?;
    let version = notify_store_pg::migrate::latest_version();
    Ok(if applied.is_empty() {
        format!("schema {} of {} is current (version {version})", store.schema(), redact_url(url))
    } else {
        let applied: Vec<String> = applied.iter().map(i32::to_string).collect();
        format!(
            "schema {} of {} migrated to version {version} (applied {})",
            store.schema(),
            redact_url(url),
            applied.join(", ")
        )
    })
}

#[cfg(feature = "mongo")]
// A registry waits on its webhook: when MongoDB cannot be reached, a request should fail (503,
// retried by the registry) within seconds, not after the driver's 30 s server selection.
const MONGO_SERVER_SELECTION: std::time::Duration = std::time::Duration::from_secs(5);

/// The MongoDB settings of a URL: its path names the database, as in every MongoDB tool.
#[cfg(feature = "mongo")]
fn mongo_config(url: &str) -> MongoConfig {
    let mut config = MongoConfig::new(url);
    config.server_selection_timeout = Some(MONGO_SERVER_SELECTION);
    if let Some(database) = mongo_database(url) {
        config = config.with_database(database);
    }
    config
}

#[cfg(feature = "mongo")]
fn mongo_database(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let path = &rest[rest.find('/')? + 1..];
    let database = path.split(['?', '#']).next().unwrap_or_default();
    (!database.is_empty()).then(|| database.to_owned())
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mongo"))]
fn open_error(url: &str, e: &(dyn std::error::Error + 'static)) -> StoreError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    StoreError::Open { url: redact_url(url), message }
}

/// The URL with any password replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(100).collect();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    // Key-value connection parameters may carry a password too.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_select_backends() {
        assert_eq!(StoreKind::of("memory://").unwrap(), StoreKind::Memory);
        assert_eq!(StoreKind::of("postgres://u@h/db").unwrap(), StoreKind::Postgres);
        assert_eq!(StoreKind::of("PostgreSQL://u@h/db").unwrap(), StoreKind::Postgres);
        assert_eq!(StoreKind::of("sqlite://./notify.db").unwrap(), StoreKind::Sqlite);
        assert_eq!(StoreKind::of("mongodb://h/db").unwrap(), StoreKind::Mongo);
        assert_eq!(StoreKind::of("mongodb+srv://cluster.example/db").unwrap(), StoreKind::Mongo);
        let err = StoreKind::of("mysql://root:pw@h/db").unwrap_err().to_string();
        assert!(err.contains("mysql://root:***@h/db"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db?sslmode=require"),
            "postgres://u:***@h:5432/db?sslmode=require"
        );
        assert_eq!(redact_url("postgres://h/db?user=u&password=pw"), "postgres://h/db?user=u&password=***");
        assert_eq!(redact_url("memory://"), "memory://");
    }

    #[test]
    fn the_default_is_the_embedded_store() {
        assert_eq!(StoreKind::of(DEFAULT_STORE_URL).unwrap(), StoreKind::Sqlite);
        #[cfg(feature = "sqlite")]
        assert_eq!(DEFAULT_STORE_URL, notify_store_sqlite::DEFAULT_URL);
    }

    #[cfg(feature = "mongo")]
    #[test]
    fn the_mongodb_database_is_the_url_path() {
        assert_eq!(mongo_config("mongodb://h1,h2/reg?replicaSet=rs0").database, "reg");
        assert_eq!(mongo_config("mongodb://u:p@h/").database, notify_store_mongo::DEFAULT_DATABASE);
        assert_eq!(mongo_config("mongodb://h?tls=true").database, notify_store_mongo::DEFAULT_DATABASE);
        assert_eq!(mongo_config("mongodb://h").server_selection_timeout, Some(MONGO_SERVER_SELECTION));
    }

    #[cfg(all(feature = "postgres", feature = "sqlite"))]
    #[tokio::test]
    async fn unreachable_stores_are_named_without_their_password() {
        // Nothing listens on port 1.
        let err = open("postgres://u:pw@127.0.0.1:1/db").await.err().unwrap().to_string();
        assert!(err.contains("cannot open the store postgres://u:***@127.0.0.1:1/db"), "{err}");
        // A regular file where the database's directory should be.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let err = open(&format!("sqlite://{}/file/notify.db", dir.path().display()))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("cannot open the store sqlite://"), "{err}");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn the_embedded_default_opens_a_durable_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/notify.db", dir.path().display());
        assert!(open(&url).await.is_ok());
        assert!(dir.path().join("notify.db").exists());
        assert!(migrate(&url).await.unwrap().contains("schema version"));
    }
}
