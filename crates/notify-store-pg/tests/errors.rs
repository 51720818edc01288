//! Failures are classified the way the server needs: an unreachable or stopped database is
//! transient (the registry retries), refused data is not.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use notify_core::query::EventQuery;
use notify_core::testkit::builder::{EventBuilder, test_digest, time};
use notify_core::{Cursor, PageRequest, Policy, Storage, StorageError, Timestamp};
use notify_store_pg::{PgConfig, PgStore};

fn plan(id: &str) -> notify_core::Plan {
    EventBuilder::push(id, time(1), "team/app")
        .manifest(&test_digest(1), 10)
        .tag("1.0")
        .plan(&Policy::default())
}

fn dead_port() -> u16 {
    // Bound and released at once: nothing listens there afterwards.
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

#[tokio::test]
async fn a_dead_port_is_unavailable() {
    let mut config = PgConfig::new(format!("postgres://postgres@127.0.0.1:{}/postgres", dead_port()));
    config.connect_timeout = Duration::from_secs(2);
    let err: StorageError = PgStore::connect(&config).await.unwrap_err().into();
    assert!(err.is_transient(), "{err:?}");
    let store = PgStore::connect_without_migrating(&config).unwrap();
    let err = store.apply(&plan("e1")).await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable { .. }), "{err:?}");
    assert!(store.events(&EventQuery::default()).await.unwrap_err().is_transient());
    assert!(store.ping().await.unwrap_err().is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_asking_for_tls_gets_tls_or_no_connection() {
    // The test server speaks no TLS: a URL that requires it must not fall back to plain text.
    let url = format!("{}?sslmode=require", support::cluster().url);
    let mut config = PgConfig::new(url).with_schema(support::fresh_schema());
    config.connect_timeout = Duration::from_secs(2);
    let err: StorageError = PgStore::connect(&config).await.unwrap_err().into();
    assert!(err.is_transient(), "{err:?}");
    assert!(format!("{err:?}").to_lowercase().contains("tls"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_unavailable() {
    let cluster = support::Server::start(support::Durability::Off);
    let mut config = cluster.config("notify");
    config.connect_timeout = Duration::from_secs(2);
    let store = PgStore::connect(&config).await.unwrap();
    store.ping().await.unwrap();
    store.apply(&plan("e1")).await.unwrap();
    let own = cluster.own.as_ref().unwrap();
    own.stop();
    let err = store.apply(&plan("e2")).await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable { .. }), "{err:?}");
    let err = store.apply(&plan("e3")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // Back up, the same store recovers without being rebuilt.
    own.restart();
    assert_eq!(store.apply(&plan("e2")).await.unwrap(), notify_core::ApplyOutcome::Applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_out_of_range_is_rejected_and_nothing_is_written() {
    let pg = support::fresh_store().await;
    let mut huge = plan("huge");
    if let notify_core::Command::UpsertContent(c) = &mut huge.commands[0] {
        c.size = Some(u64::MAX);
    }
    assert!(matches!(pg.apply(&huge).await, Err(StorageError::Rejected { .. })));
    let mut ancient = plan("ancient");
    ancient.entry.timestamp = Timestamp::from_unix_micros(i64::MIN / 2);
    let err = pg.apply(&ancient).await.unwrap_err();
    assert!(matches!(err, StorageError::Rejected { .. }), "{err:?}");
    assert!(pg.events(&EventQuery::default()).await.unwrap().items.is_empty());
    let bad = PageRequest { after: Some(Cursor::new("zz")), limit: 10 };
    assert!(matches!(pg.quarantined(&bad).await, Err(StorageError::InvalidCursor(_))));
}
