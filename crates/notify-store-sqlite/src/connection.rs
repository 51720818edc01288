//! Opening connections: the one writer, and the readers.

use rusqlite::{Connection, OpenFlags};

use crate::config::SqliteConfig;
use crate::error::SqliteError;

/// Distinct statements a connection keeps prepared: the event log alone has one per
/// combination of filters in use.
const STATEMENT_CACHE: usize = 128;

/// Page cache of the writer, in KiB (SQLite's default is 2 MiB): an event touches a dozen
/// B-tree pages spread over the whole file, and the upper levels of every index should stay
/// cached. Not more: SQLite scans its page cache at the end of every transaction, which with
/// a 64 MiB cache cost more than the reads it saved (measured with `sqlite-bench`).
const WRITER_CACHE_KIB: i64 = 8 * 1024;

/// Pages the log may hold before a commit copies them into the database file (SQLite's
/// default is 1000). A batch of events changes a few hundred pages, many of them the same hot
/// index pages again and again; checkpointing less often copies each of those once instead
/// of many times, and spares most commits the checkpoint's extra disk syncs.
const WAL_CHECKPOINT_PAGES: i64 = 8000;

/// Bytes the log file is cut back to after a checkpoint resets it.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Page cache of each reader, in KiB.
const READER_CACHE_KIB: i64 = 8 * 1024;

/// Opens (creating when missing) the file for writing, in WAL mode with the configured
/// synchronous mode. The caller migrates it.
pub(crate) fn open_writer(config: &SqliteConfig) -> Result<Connection, SqliteError> {
    let path = &config.path;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| SqliteError::CreateDir { path: dir.to_owned(), source })?;
    }
    let open = |context| move |source| SqliteError::Open { path: path.clone(), context, source };
    let conn = Connection::open(path).map_err(open("opening the file"))?;
    conn.busy_timeout(config.busy_timeout).map_err(open("setting the busy timeout"))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open("switching to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteError::Open {
            path: path.clone(),
            context: "switching to WAL mode",
            source: rusqlite::Error::InvalidParameterName(format!("journal_mode stayed {mode}")),
        });
    }
    conn.pragma_update(None, "synchronous", config.synchronous.as_str())
        .map_err(open("setting synchronous"))?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
        .map_err(open("setting wal_autocheckpoint"))?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .map_err(open("setting journal_size_limit"))?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB).map_err(open("sizing the page cache"))?;
    // Each write of a batch runs in a savepoint, whose journal of the pages it changes would
    // otherwise be a temporary file: keep it in memory.
    conn.pragma_update(None, "temp_store", "MEMORY").map_err(open("setting temp_store"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Opens the (existing, migrated) file for reading only.
pub(crate) fn open_reader(config: &SqliteConfig) -> rusqlite::Result<Connection> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(&config.path, flags)?;
    conn.busy_timeout(config.busy_timeout)?;
    // Read-write at the file level, so that the connection can take part in WAL recovery and
    // checkpoints, but refusing every write statement.
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    // Sorts that no index serves stay in memory.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}
