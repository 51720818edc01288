//! Versioned schema migrations, embedded in the binary and applied at start-up.
//!
//! The runner is small on purpose: all pending migrations run in one transaction that first
//! takes a transaction-scoped advisory lock, so two processes starting at once apply them
//! exactly once (the second waits, then finds nothing to do), and a failing migration leaves
//! the schema as it was. Applied migrations are recorded with a checksum in
//! `<schema>.schema_migrations`; a changed or unknown migration stops the start-up instead of
//! running against a schema this build does not understand.

use sha2::{Digest as _, Sha256};
use tokio_postgres::GenericClient;

use crate::error::PgError;

/// One schema change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Applied in increasing order, starting at 1.
    pub version: i32,
    /// A short name.
    pub name: &'static str,
    /// The SQL, run with `search_path` set to the store's schema.
    pub sql: &'static str,
}

/// Every migration this build knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "schema", sql: include_str!("../migrations/0001_schema.sql") },
    Migration { version: 2, name: "apply_plan", sql: include_str!("../migrations/0002_apply_plan.sql") },
    Migration { version: 3, name: "apply_plans", sql: include_str!("../migrations/0003_apply_plans.sql") },
    Migration { version: 4, name: "liveness", sql: include_str!("../migrations/0004_liveness.sql") },
    Migration { version: 5, name: "digest_pages", sql: include_str!("../migrations/0005_digest_pages.sql") },
    Migration {
        version: 6,
        name: "tag_media_type",
        sql: include_str!("../migrations/0006_tag_media_type.sql"),
    },
    Migration { version: 7, name: "write_path", sql: include_str!("../migrations/0007_write_path.sql") },
    Migration {
        version: 8,
        name: "deferred_projection",
        sql: include_str!("../migrations/0008_deferred_projection.sql"),
    },
    Migration { version: 9, name: "batch_array", sql: include_str!("../migrations/0009_batch_array.sql") },
    Migration {
        version: 10,
        name: "statement_counters",
        sql: include_str!("../migrations/0010_statement_counters.sql"),
    },
    Migration { version: 11, name: "enqueue_one", sql: include_str!("../migrations/0011_enqueue_one.sql") },
    Migration {
        version: 12,
        name: "repository_upsert",
        sql: include_str!("../migrations/0012_repository_upsert.sql"),
    },
    Migration {
        version: 13,
        name: "log_on_acknowledgement",
        sql: include_str!("../migrations/0013_log_on_acknowledgement.sql"),
    },
    Migration {
        version: 14,
        name: "queue_low_mark",
        sql: include_str!("../migrations/0014_queue_low_mark.sql"),
    },
    Migration {
        version: 15,
        name: "projection_owns_references",
        sql: include_str!("../migrations/0015_projection_owns_references.sql"),
    },
    Migration {
        version: 16,
        name: "projection_lanes",
        sql: include_str!("../migrations/0016_projection_lanes.sql"),
    },
    Migration {
        version: 17,
        name: "newest_by_window",
        sql: include_str!("../migrations/0017_newest_by_window.sql"),
    },
    Migration {
        version: 18,
        name: "events_digest_hash",
        sql: include_str!("../migrations/0018_events_digest_hash.sql"),
    },
    Migration {
        version: 19,
        name: "digest_pages_hashed",
        sql: include_str!("../migrations/0019_digest_pages_hashed.sql"),
    },
    Migration {
        version: 20,
        name: "tag_history_covering",
        sql: include_str!("../migrations/0020_tag_history_covering.sql"),
    },
    Migration {
        version: 21,
        name: "queue_taken_once",
        sql: include_str!("../migrations/0021_queue_taken_once.sql"),
    },
    Migration {
        version: 22,
        name: "queue_kept_whole",
        sql: include_str!("../migrations/0022_queue_kept_whole.sql"),
    },
];

/// The version a fully migrated schema is at.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// One lock for every schema of a database: migrations of different schemas also create
/// the shared pg_trgm extension, which must not race either.
const LOCK_KEY: i64 = 0x6e6f_7469_6679_0001;

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Applies the pending migrations up to `target` (all when `None`); returns the versions
/// applied now.
pub(crate) async fn run(
    client: &mut tokio_postgres::Client,
    schema: &str,
    target: Option<i32>,
) -> Result<Vec<i32>, PgError> {
    let target = target.unwrap_or_else(latest_version);
    if target != 0 && !MIGRATIONS.iter().any(|m| m.version == target) {
        return Err(PgError::UnknownVersion(target));
    }
    let s = quote_ident(schema);
    let tx = client.transaction().await.map_err(PgError::db("starting the migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(PgError::db("waiting for the migration lock"))?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(PgError::db("creating the migrations table"))?;
    let applied = tx
        .query(&format!("SELECT version, checksum FROM {s}.schema_migrations ORDER BY version"), &[])
        .await
        .map_err(PgError::db("reading the applied migrations"))?;
    let mut done = Vec::new();
    for row in &applied {
        let (version, found): (i32, String) = (row.get(0), row.get(1));
        match MIGRATIONS.iter().find(|m| m.version == version) {
            Some(m) if checksum(m.sql) == found => done.push(version),
            Some(m) => return Err(PgError::ChecksumMismatch { version, name: m.name, found }),
            None => return Err(PgError::SchemaTooNew { found: version, known: latest_version() }),
        }
    }
    let pending: Vec<&Migration> =
        MIGRATIONS.iter().filter(|m| m.version <= target && !done.contains(&m.version)).collect();
    if pending.is_empty() {
        tx.commit().await.map_err(PgError::db("finishing the migration"))?;
        return Ok(Vec::new());
    }
    let trgm = trigram_schema(&tx).await?;
    tx.batch_execute(&format!("SET LOCAL search_path TO {s}"))
        .await
        .map_err(PgError::db("setting the search path"))?;
    let mut now = Vec::new();
    for m in pending {
        let sql = m.sql.replace("{pg_trgm}", &quote_ident(&trgm));
        tx.batch_execute(&sql).await.map_err(PgError::db("applying a migration"))?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"),
            &[&m.version, &m.name, &checksum(m.sql)],
        )
        .await
        .map_err(PgError::db("recording a migration"))?;
        now.push(m.version);
    }
    tx.commit().await.map_err(PgError::db("committing the migration"))?;
    Ok(now)
}

/// The schema holding pg_trgm, installing it into `public` when the database lacks it (it is
/// a trusted extension: the database owner may create it).
async fn trigram_schema(tx: &impl GenericClient) -> Result<String, PgError> {
    const FIND: &str = "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'";
    if let Some(row) = tx.query_opt(FIND, &[]).await.map_err(PgError::db("looking for pg_trgm"))? {
        return Ok(row.get(0));
    }
    tx.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        .await
        .map_err(PgError::db("creating the pg_trgm extension"))?;
    Ok("public".to_owned())
}

/// The newest applied version, `None` before the first migration.
pub(crate) async fn current_version(
    client: &impl GenericClient,
    schema: &str,
) -> Result<Option<i32>, PgError> {
    let exists = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{}.schema_migrations", quote_ident(schema))],
        )
        .await
        .map_err(PgError::db("looking for the migrations table"))?;
    if !exists.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one(&format!("SELECT max(version) FROM {}.schema_migrations", quote_ident(schema)), &[])
        .await
        .map_err(PgError::db("reading the schema version"))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("notify"), "\"notify\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
