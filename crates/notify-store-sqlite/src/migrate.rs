//! Versioned schema migrations, embedded in the binary and run when a store opens.
//!
//! The file's schema version is SQLite's `PRAGMA user_version` (0 for a new file); migration
//! `n` takes it from `n - 1` to `n`. Each runs in its own `BEGIN IMMEDIATE` transaction
//! together with the version bump, so a crash leaves the file at one version or the next, and
//! two processes opening the same new file at once migrate it once: the second waits for the
//! write lock, then sees the new version and does nothing. `PRAGMA application_id` marks the
//! file as this store's, so that another program's database is refused rather than altered.
//!
//! A file written by an older build opens in a newer one (the pending migrations run); a file
//! written by a newer build is refused ([`SqliteError::TooNew`]) rather than guessed at.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::SqliteError;

/// `PRAGMA application_id` of this store's files: "ntfy" in ASCII.
pub const APPLICATION_ID: i32 = 0x6E74_6679;

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version it produces.
    pub version: u32,
    /// What it does, in a few words.
    pub name: &'static str,
    sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "tables", sql: include_str!("../migrations/0001_tables.sql") },
    Migration { version: 2, name: "read indexes", sql: include_str!("../migrations/0002_read_indexes.sql") },
];

/// The schema version this build writes.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The file's schema version.
pub(crate) fn current_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// Refuses files that are not this store's, or are too new for this build.
fn check_identity(conn: &Connection, path: &Path) -> Result<u32, SqliteError> {
    let open = |context| move |source| SqliteError::Open { path: path.to_owned(), context, source };
    let version = current_version(conn).map_err(open("reading the schema version"))?;
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(open("reading the application id"))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(SqliteError::Foreign {
            path: path.to_owned(),
            reason: format!("application_id {app_id:#x}"),
        });
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |row| row.get(0))
            .map_err(open("listing tables"))?;
        if tables > 0 {
            return Err(SqliteError::Foreign {
                path: path.to_owned(),
                reason: format!("it has {tables} tables but no schema version"),
            });
        }
    } else if app_id != APPLICATION_ID {
        return Err(SqliteError::Foreign {
            path: path.to_owned(),
            reason: format!("schema version {version} without this store's application_id"),
        });
    }
    if version > latest_version() {
        return Err(SqliteError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: latest_version(),
        });
    }
    Ok(version)
}

/// Applies the pending migrations up to `target` (at most [`latest_version`]); returns the
/// versions applied now.
pub(crate) fn run(conn: &mut Connection, path: &Path, target: u32) -> Result<Vec<u32>, SqliteError> {
    check_identity(conn, path)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version <= target) {
        let failed = |source| SqliteError::Migration { version: m.version, name: m.name, source };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let version = current_version(&tx).map_err(failed)?;
        if version >= m.version {
            continue;
        }
        if version != m.version - 1 {
            return Err(SqliteError::Config(format!(
                "schema version {version} cannot be migrated by migration {} ({})",
                m.version, m.name
            )));
        }
        tx.execute_batch(m.sql).map_err(failed)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(failed)?;
        tx.pragma_update(None, "user_version", m.version).map_err(failed)?;
        tx.commit().map_err(failed)?;
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }

    #[test]
    fn a_new_database_migrates_once_and_is_then_current() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        assert_eq!(run(&mut conn, path, latest_version()).unwrap(), vec![1, 2]);
        assert_eq!(run(&mut conn, path, latest_version()).unwrap(), Vec::<u32>::new());
        assert_eq!(current_version(&conn).unwrap(), latest_version());
    }

    #[test]
    fn another_programs_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE theirs (x)").unwrap();
        let err = run(&mut conn, Path::new("x.db"), latest_version()).unwrap_err();
        assert!(matches!(err, SqliteError::Foreign { .. }), "{err}");
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        assert!(matches!(run(&mut conn, Path::new("x.db"), 2), Err(SqliteError::Foreign { .. })));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn, Path::new("x.db"), latest_version()).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1).unwrap();
        let err = run(&mut conn, Path::new("x.db"), latest_version()).unwrap_err();
        assert!(matches!(err, SqliteError::TooNew { found, .. } if found == latest_version() + 1), "{err}");
    }
}
