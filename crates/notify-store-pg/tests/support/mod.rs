//! A PostgreSQL to test against: the one `NOTIFY_PG_URL` names, or a throwaway PostgreSQL 15
//! cluster (`notify-pg-cluster`) started here and shared by all tests of one test binary.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use notify_pg_cluster::{Cluster, Durability};
use notify_store_pg::{PgConfig, PgStore, Projection};

/// A database server: an outside one, or a cluster of our own.
pub(crate) struct Server {
    /// The URL of its `postgres` database.
    pub(crate) url: String,
    pub(crate) own: Option<Cluster>,
}

impl Server {
    /// A cluster of our own.
    pub(crate) fn start(durability: Durability) -> Server {
        let cluster = Cluster::start(durability);
        Server { url: cluster.url(), own: Some(cluster) }
    }

    /// A store configuration for `schema` on this server.
    pub(crate) fn config(&self, schema: &str) -> PgConfig {
        PgConfig::new(self.url.clone()).with_schema(schema).with_pool_size(4)
    }
}

/// The server all tests of this binary share.
pub(crate) fn cluster() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("NOTIFY_PG_URL") {
        Ok(url) if !url.is_empty() => Server { url, own: None },
        _ => Server::start(Durability::Off),
    })
}

/// A schema name no other test (of this or another run) uses.
pub(crate) fn fresh_schema() -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() % 1_000_000_000_000).unwrap_or(0);
    format!("t_{}_{}_{}", std::process::id(), nanos, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A migrated store in a schema of its own, with the default settings.
pub(crate) async fn fresh_store() -> TestStore {
    fresh_store_with(4, Projection::default()).await
}

/// A migrated store in a schema of its own that projects each event before acknowledging it.
pub(crate) async fn fresh_inline_store() -> TestStore {
    fresh_store_with(4, Projection::Inline).await
}

/// A migrated store in a schema of its own that projects behind its acknowledgements.
pub(crate) async fn fresh_deferred_store() -> TestStore {
    fresh_store_with(4, Projection::Deferred).await
}

/// A migrated store in a schema of its own, with `pool_size` connections and the given
/// projection mode.
pub(crate) async fn fresh_store_with(pool_size: usize, projection: Projection) -> TestStore {
    fresh_store_configured(|c| c.with_pool_size(pool_size).with_projection(projection)).await
}

/// A migrated store in a schema of its own, with the settings `configure` makes of the
/// defaults.
pub(crate) async fn fresh_store_configured(configure: impl FnOnce(PgConfig) -> PgConfig) -> TestStore {
    let config = configure(cluster().config(&fresh_schema()));
    let store = PgStore::connect(&config).await.expect("cannot connect to the test database");
    TestStore { store, config }
}

/// A store whose schema is dropped when it goes out of scope, when the database outlives the
/// tests (`NOTIFY_PG_URL`); a throwaway cluster goes as a whole.
pub(crate) struct TestStore {
    pub(crate) store: PgStore,
    pub(crate) config: PgConfig,
}

impl std::ops::Deref for TestStore {
    type Target = PgStore;

    fn deref(&self) -> &PgStore {
        &self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if cluster().own.is_some() {
            return;
        }
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with
        // a runtime of its own.
        let config = self.config.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let (client, conn) =
                    tokio_postgres::connect(&config.url, tokio_postgres::NoTls).await.ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", config.schema))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

impl TestStore {
    /// Rows that point at a repository or a manifest that is not there. The projection keeps
    /// these references itself (migration 15 dropped the foreign keys that checked them), so
    /// every sequence of deliveries must leave none.
    pub(crate) async fn dangling_references(&self) -> i64 {
        let (client, conn) =
            tokio_postgres::connect(&self.config.url, tokio_postgres::NoTls).await.expect("a connection");
        tokio::spawn(conn);
        let s = &self.config.schema;
        let by_repository = ["links", "tags", "tag_history", "repository_actors"].map(|table| {
            format!(
                "(SELECT count(*) FROM \"{s}\".{table} x \
                 WHERE NOT EXISTS (SELECT 1 FROM \"{s}\".repositories r WHERE r.id = x.repo_id))"
            )
        });
        let sql = format!(
            "SELECT {} + (SELECT count(*) FROM \"{s}\".content_references x \
             WHERE NOT EXISTS (SELECT 1 FROM \"{s}\".content c WHERE c.digest = x.parent))",
            by_repository.join(" + ")
        );
        client.query_one(&sql, &[]).await.expect("counting dangling references").get(0)
    }

    /// The pages of the queue's file: none in a fresh store, and none after a vacuum
    /// truncated it.
    pub(crate) async fn queue_pages(&self) -> i64 {
        // A connection of its own, like `dangling_references`: the store's may all be taken.
        let (client, conn) =
            tokio_postgres::connect(&self.config.url, tokio_postgres::NoTls).await.expect("a connection");
        tokio::spawn(conn);
        let sql = format!("SELECT pg_relation_size('\"{}\".pending') / 8192", self.config.schema);
        client.query_one(&sql, &[]).await.expect("the queue's size").get(0)
    }
}
