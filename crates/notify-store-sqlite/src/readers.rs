//! The read connections: a small pool used from tokio's blocking threads.
//!
//! In WAL mode readers never wait for the writer, nor the writer for them, so reads run on
//! their own connections, at most `readers` at once (a semaphore), each on one of tokio's
//! blocking-pool threads (`spawn_blocking`) so that no async worker thread waits on SQLite.
//! Connections are opened on first need and kept for reuse. Every query runs in one read
//! transaction, so the several statements of one answer see the same snapshot.

use std::sync::{Arc, Mutex, MutexGuard};

use notify_core::StorageError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::config::SqliteConfig;
use crate::connection::open_reader;
use crate::error::classify;

/// The pool.
#[derive(Debug)]
pub(crate) struct Readers {
    config: SqliteConfig,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn new(config: SqliteConfig) -> Arc<Self> {
        let permits = Arc::new(Semaphore::new(config.readers));
        Arc::new(Readers { config, idle: Mutex::new(Vec::new()), permits })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The list is only pushed to and popped from; a panic elsewhere cannot leave it
        // half-changed.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `query` on a read connection, in a read transaction, off the async threads.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, query: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::unavailable("the SQLite read connections are closed", e))?;
        let this = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match this.idle().pop() {
                Some(conn) => conn,
                None => open_reader(&this.config).map_err(|e| classify("opening a read connection", e))?,
            };
            let result = match conn.unchecked_transaction() {
                // Dropping the transaction ends it; a read has nothing to commit.
                Ok(tx) => query(&tx),
                Err(e) => Err(classify("starting a read transaction", e)),
            };
            if conn.is_autocommit() {
                this.idle().push(conn);
            }
            result
        });
        task.await.map_err(|e| StorageError::internal("a read task failed", e))?
    }
}
