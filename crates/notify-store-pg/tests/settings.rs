//! The server settings the store reads and the advice it draws from them, on clusters of our
//! own: one with PostgreSQL's defaults, one with the settings the user guide advises.

mod support;

use notify_store_pg::PgStore;
use support::{Durability, Server, fresh_schema};

/// The settings the store reads, and the server's version (`server_version_num`).
async fn settings_of(server: &Server) -> (notify_store_pg::ServerSettings, i32) {
    let store = PgStore::connect(&server.config(&fresh_schema())).await.expect("cannot connect");
    let client = store.pool().get().await.expect("a connection");
    let row = client.query_one("SELECT current_setting('server_version_num')::int", &[]).await;
    (store.server_settings().await.expect("the server's settings"), row.expect("the server's version").get(0))
}

#[tokio::test]
async fn postgresql_defaults_draw_advice_on_all_four_settings_and_the_advised_ones_none() {
    // The tests' cluster: PostgreSQL's defaults but for a 256 MB buffer cache.
    let (plain, version) = settings_of(&Server::start(Durability::Off)).await;
    assert_eq!(plain.shared_buffers, 256 << 20);
    assert_eq!((plain.max_wal_size, plain.checkpoint_timeout), (1 << 30, 300));
    let advised: Vec<&str> = plain.advice().iter().map(|a| a.setting).collect();
    assert_eq!(advised, ["shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression"]);
    // `huge_pages = try`: PostgreSQL tells whether it got them from version 17 on.
    if version < 170_000 {
        assert_eq!(plain.huge_pages, None);
    } else {
        assert!(plain.huge_pages.is_some(), "{plain:?}");
    }

    let (durable, _) = settings_of(&Server::start(Durability::On)).await;
    assert_eq!((durable.max_wal_size, durable.checkpoint_timeout), (16 << 30, 900));
    assert_eq!(durable.wal_compression, "lz4");
    // A quarter of a small machine's memory is below the advised 1 GB; the rest holds anywhere.
    let advised: Vec<&str> = durable.advice().iter().map(|a| a.setting).collect();
    let expected: &[&str] = if durable.shared_buffers < 1 << 30 { &["shared_buffers"] } else { &[] };
    assert_eq!(advised, expected, "{durable:?}");
}
