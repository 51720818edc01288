//! Errors: [`MongoError`] for setting up, and the mapping of driver errors onto the trait's
//! [`StorageError`], which tells the server whether the registry should retry.
//!
//! Transient (`Unavailable`): no server selectable, network and pool failures, a primary
//! stepping down or shutting down, write-concern failures and timeouts, write conflicts, and
//! anything the driver labels `TransientTransactionError`, `UnknownTransactionCommitResult` or
//! `RetryableWriteError`. Rejected: data the server refuses for good (a document or index key
//! too large, a value BSON cannot hold). Everything else is `Internal`.

use mongodb::error::{Error, ErrorKind, WriteFailure};
use notify_core::StorageError;

/// Why [`crate::MongoStore::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    /// The connection string or an option is not acceptable to the driver.
    #[error("invalid MongoDB configuration: {0}")]
    Config(String),
    /// The deployment could not be reached or answered with an error.
    #[error("MongoDB {what} failed: {source}")]
    Driver {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: Error,
    },
    /// Transactions were required but the deployment is a standalone server.
    #[error(
        "transactions were required but the deployment does not support them (not a replica set or mongos)"
    )]
    TransactionsUnsupported,
    /// Finishing events left pending by crashed writers failed.
    #[error("recovering pending events failed: {0}")]
    Recovery(#[source] StorageError),
}

impl MongoError {
    pub(crate) fn driver(what: &'static str) -> impl FnOnce(Error) -> MongoError {
        move |source| MongoError::Driver { what, source }
    }

    /// Whether retrying later may succeed (the deployment was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        match self {
            MongoError::Driver { source, .. } => is_transient(source),
            MongoError::Recovery(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Server error codes that mean "not now": the same call may pass later.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    64,    // WriteConcernFailed
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    189,   // PrimarySteppedDown
    251,   // NoSuchTransaction (aborted under us)
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Server error codes that mean the data itself can never be stored.
const REJECTED_CODES: &[i32] = &[
    2,     // BadValue
    10334, // BSONObjectTooLarge
    17280, // KeyTooLong
    17419, // document too large after an update
];

/// The duplicate-key error code: the dedup gate and unique indexes.
pub(crate) const DUPLICATE_KEY: i32 = 11000;

fn server_code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first().map(|w| w.code))
            .or_else(|| m.write_concern_error.as_ref().map(|w| w.code)),
        _ => None,
    }
}

/// Whether `e` is a duplicate key error.
pub(crate) fn is_duplicate_key(e: &Error) -> bool {
    server_code(e) == Some(DUPLICATE_KEY)
}

fn is_transient(e: &Error) -> bool {
    const LABELS: [&str; 3] =
        ["TransientTransactionError", "UnknownTransactionCommitResult", "RetryableWriteError"];
    if LABELS.iter().any(|l| e.contains_label(l)) {
        return true;
    }
    match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Write(WriteFailure::WriteConcernError(_)) => true,
        ErrorKind::InsertMany(m) if m.write_concern_error.is_some() => true,
        _ => server_code(e).is_some_and(|c| TRANSIENT_CODES.contains(&c)),
    }
}

fn is_rejected(e: &Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::BsonSerialization(_) => true,
        _ => server_code(e).is_some_and(|c| REJECTED_CODES.contains(&c)),
    }
}

/// The trait's error for a driver error met while doing `what`.
pub(crate) fn storage_error(what: &str, e: Error) -> StorageError {
    let message = format!("MongoDB {what}");
    if is_transient(&e) {
        StorageError::unavailable(message, e)
    } else if is_rejected(&e) {
        StorageError::rejected(message, e)
    } else {
        StorageError::internal(message, e)
    }
}

/// A stored document this version cannot read.
pub(crate) fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Internal { message: what.into(), source: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_and_selection_failures_are_transient() {
        let io: Error = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset").into();
        assert!(storage_error("insert", io).is_transient());
    }

    #[test]
    fn serialization_failures_are_rejected() {
        let bad = mongodb::bson::to_document(&u64::MAX).err().map(Error::from);
        if let Some(e) = bad {
            assert!(matches!(storage_error("insert", e), StorageError::Rejected { .. }));
        }
    }
}
