//! A store on a fresh database file in its own temporary directory, removed with the handle.

#![allow(dead_code, unreachable_pub)]

use std::ops::Deref;
use std::path::PathBuf;

use notify_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use tempfile::TempDir;

/// A store and the directory of its file; the store is closed before the directory goes.
pub struct TempStore {
    pub store: SqliteStore,
    pub dir: TempDir,
}

impl Deref for TempStore {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

impl TempStore {
    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("notify.db")
    }
}

/// Settings for `notify.db` in `dir`, durable as by default.
pub fn config_in(dir: &TempDir) -> SqliteConfig {
    SqliteConfig::new(dir.path().join("notify.db"))
}

/// A fresh, migrated store with the default, durable settings.
pub async fn fresh_store() -> TempStore {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let store = SqliteStore::open(&config_in(&dir)).await.expect("cannot open a fresh store");
    TempStore { store, dir }
}

/// A fresh store that does not sync to disk, for tests that apply thousands of events and are
/// not about durability.
pub async fn fast_store() -> TempStore {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let config = config_in(&dir).with_synchronous(Synchronous::Off);
    let store = SqliteStore::open(&config).await.expect("cannot open a fresh store");
    TempStore { store, dir }
}
