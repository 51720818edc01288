//! A throwaway PostgreSQL 15 cluster for the tests that need a database server.

use notify_store_pg::{PgConfig, PgStore};

/// Reports a test that cannot run here. Under `NOTIFY_REQUIRE_SERVICES=1` (what `scripts/test`
/// sets) that is a failure: a test that silently does nothing proves nothing.
pub fn unavailable(why: &str) {
    if std::env::var("NOTIFY_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

pub use notify_pg_cluster::{Cluster, Durability, free_port};

/// A throwaway cluster of our own, `None` (after [`unavailable`]) where PostgreSQL is not
/// installed.
pub fn own_cluster() -> Option<Cluster> {
    if !notify_pg_cluster::installed() {
        unavailable("no PostgreSQL 15 (install postgresql-15 or set NOTIFY_PG_BIN)");
        return None;
    }
    Some(Cluster::start(Durability::Off))
}

/// A throwaway cluster for a test that stops and restarts its database, which it cannot do
/// to a server named by `NOTIFY_PG_URL`; `None` (after [`unavailable`]) when there is none.
pub fn own_cluster_to_stop() -> Option<Cluster> {
    if std::env::var("NOTIFY_PG_URL").is_ok() {
        unavailable("stopping the database needs the throwaway cluster (unset NOTIFY_PG_URL)");
        return None;
    }
    own_cluster()
}

/// The database to use: `NOTIFY_PG_URL`'s server, else a throwaway cluster.
pub fn database_server() -> Option<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var("NOTIFY_PG_URL") {
        return Some((url, None));
    }
    let cluster = own_cluster()?;
    Some((cluster.url(), Some(cluster)))
}

/// A database of its own on the given server.
pub async fn fresh_database(server_url: &str, name: &str) -> String {
    let admin = PgStore::connect_without_migrating(&PgConfig::new(server_url)).unwrap();
    let client = admin.pool().get().await.unwrap();
    // One statement per call: a multi-statement batch is a transaction, which these refuse.
    let name = format!("{name}_{}", std::process::id());
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = server_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}
