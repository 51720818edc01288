//! This crate's own errors, and how database errors map onto [`StorageError`].

use std::error::Error as _;

use notify_core::StorageError;
use tokio_postgres::error::SqlState;

/// What can go wrong setting the store up: configuration, connecting, migrating.
///
/// Converts into [`StorageError`] where the `Storage` trait needs one; a failure to reach the
/// database then stays transient.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A setting is out of range or malformed.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The connection URL does not parse.
    #[error("invalid PostgreSQL connection URL")]
    Url(#[source] tokio_postgres::Error),
    /// The TLS settings cannot be used (unreadable CA file, bad certificate).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The pool cannot be built.
    #[error("cannot build the connection pool")]
    Pool(#[source] deadpool_postgres::BuildError),
    /// No connection could be had from the pool.
    #[error("cannot get a database connection")]
    Connect(#[source] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("database error while {context}")]
    Database {
        /// What was being done.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// An applied migration differs from the one this build embeds.
    #[error("migration {version} ({name}) differs from the one applied to the database (checksum {found})")]
    ChecksumMismatch {
        /// The migration's version.
        version: i32,
        /// Its name.
        name: &'static str,
        /// The checksum recorded in the database.
        found: String,
    },
    /// The database was migrated by a newer build.
    #[error("the schema is at version {found}, newer than the {known} this build knows")]
    SchemaTooNew {
        /// The newest version recorded in the database.
        found: i32,
        /// The newest version this build embeds.
        known: i32,
    },
    /// A migration target that does not exist.
    #[error("no migration {0}")]
    UnknownVersion(i32),
}

impl PgError {
    pub(crate) fn db(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PgError {
        move |source| PgError::Database { context, source }
    }
}

impl From<PgError> for StorageError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Connect(p) => pool_error(p),
            PgError::Database { context, source } => classify(context, source),
            other => StorageError::internal(other.to_string(), other),
        }
    }
}

/// Maps a pool failure: timeouts and closed pools are transient, the rest is the database's.
pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StorageError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(source) => classify("connecting", source),
        PoolError::Timeout(_) | PoolError::Closed => {
            StorageError::unavailable("no database connection available", e)
        }
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            StorageError::internal("connection pool misconfigured", e)
        }
    }
}

/// How the server should treat a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Retry later: the database is unreachable, overloaded, or a transaction lost a race.
    Transient,
    /// The data itself is refused.
    Rejected,
    /// The store is broken or not what this version expects.
    Internal,
}

/// Classifies a driver error. Errors without a SQLSTATE come from the connection (I/O, TLS,
/// authentication, a closed socket, the server going away) and are transient, except the
/// driver's own conversion errors, which mean the schema is not what this code expects.
pub(crate) fn class_of(e: &tokio_postgres::Error) -> Class {
    let Some(code) = e.code() else {
        // The driver's error kinds are private; its messages are stable.
        let text = e.to_string();
        let conversion =
            ["error serializing", "error deserializing", "invalid column", "query returned an unexpected"]
                .iter()
                .any(|p| text.starts_with(p));
        return if conversion { Class::Internal } else { Class::Transient };
    };
    let c = code.code();
    let transient = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::QUERY_CANCELED,
        SqlState::READ_ONLY_SQL_TRANSACTION,
        SqlState::LOCK_NOT_AVAILABLE,
    ];
    // Class 08: connection exceptions; 53: insufficient resources (too many connections,
    // disk full, out of memory); 58: system errors (I/O).
    if transient.contains(code) || c.starts_with("08") || c.starts_with("53") || c.starts_with("58") {
        Class::Transient
    } else if c.starts_with("22") {
        Class::Rejected
    } else {
        Class::Internal
    }
}

/// Whether a failed apply may simply be run again at once.
pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Converts a driver error into the trait's error, keeping the driver's as the source.
pub(crate) fn classify(context: &str, e: tokio_postgres::Error) -> StorageError {
    let detail = match e.as_db_error() {
        Some(db) => format!("{context}: {} ({})", db.message(), db.code().code()),
        None => match e.source() {
            Some(inner) => format!("{context}: {e}: {inner}"),
            None => format!("{context}: {e}"),
        },
    };
    match class_of(&e) {
        Class::Transient => StorageError::unavailable(detail, e),
        Class::Rejected => StorageError::rejected(detail, e),
        Class::Internal => StorageError::internal(detail, e),
    }
}
