//! This crate's own errors (setting the store up), and how SQLite's errors map onto the
//! [`StorageError`] of the `Storage` trait.

use std::path::PathBuf;

use notify_core::StorageError;
use rusqlite::ErrorCode;

/// What can go wrong setting the store up: configuration, opening the file, migrating.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The store URL does not parse.
    #[error("invalid store URL {url:?}: {reason} (expected sqlite://PATH, e.g. sqlite://./notify.db)")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The directory of the database file cannot be created.
    #[error("cannot create the directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file cannot be opened or set up as a database.
    #[error("cannot open the database {}: {context}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is an SQLite database, but not one of this store.
    #[error("{} is an SQLite database of another program: {reason}", path.display())]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// How that was told.
        reason: String,
    },
    /// The file was written by a newer version of this store, whose schema this one does not
    /// know.
    #[error(
        "{} has schema version {found}, newer than this build's {supported}: upgrade the server",
        path.display()
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The file's schema version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A migration failed; the file stays at the version before it.
    #[error("migration {version} ({name}) failed")]
    Migration {
        /// The migration's version.
        version: u32,
        /// Its name.
        name: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer thread cannot be started.
    #[error("cannot start the writer thread")]
    Thread(#[source] std::io::Error),
}

impl From<SqliteError> for StorageError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Open { ref source, .. } | SqliteError::Migration { ref source, .. }
                if is_transient(source) =>
            {
                StorageError::unavailable("the database cannot be opened now", e)
            }
            SqliteError::CreateDir { .. } | SqliteError::Thread(_) => {
                StorageError::unavailable("the database cannot be opened now", e)
            }
            other => StorageError::internal("the database cannot be set up", other),
        }
    }
}

fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::OperationInterrupted
        )
    )
}

/// Maps a SQLite error met while `context` (e.g. "applying an event") onto the trait's error:
/// locks held elsewhere and I/O failures may pass (`Unavailable`), data SQLite refuses does
/// not (`Rejected`), everything else is the store's own fault (`Internal`).
pub(crate) fn classify(context: &str, e: rusqlite::Error) -> StorageError {
    let message = format!("SQLite failed while {context}");
    if is_transient(&e) {
        return StorageError::unavailable(message, e);
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig) => {
            StorageError::rejected(message, e)
        }
        _ => match e {
            rusqlite::Error::ToSqlConversionFailure(_) | rusqlite::Error::NulError(_) => {
                StorageError::rejected(message, e)
            }
            other => StorageError::internal(message, other),
        },
    }
}

/// A stored value this version cannot read back: the file was changed by something else.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StorageError {
    StorageError::Internal { message: format!("stored {what} is not valid: {detail}"), source: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn locks_and_io_are_transient_data_errors_are_permanent() {
        use rusqlite::ffi;
        for code in [ffi::SQLITE_BUSY, ffi::SQLITE_LOCKED, ffi::SQLITE_IOERR_FSYNC, ffi::SQLITE_FULL] {
            assert!(classify("x", failure(code)).is_transient(), "{code}");
        }
        for code in [ffi::SQLITE_CONSTRAINT_UNIQUE, ffi::SQLITE_CONSTRAINT_DATATYPE, ffi::SQLITE_TOOBIG] {
            assert!(matches!(classify("x", failure(code)), StorageError::Rejected { .. }), "{code}");
        }
        for code in [ffi::SQLITE_CORRUPT, ffi::SQLITE_ERROR, ffi::SQLITE_READONLY] {
            assert!(matches!(classify("x", failure(code)), StorageError::Internal { .. }), "{code}");
        }
    }
}
