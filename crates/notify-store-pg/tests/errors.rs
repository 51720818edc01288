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
    refuse_out_of_range(support::fresh_inline_store().await).await;
}

/// Refused the same way, before anything is queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_out_of_range_is_rejected_and_nothing_is_written_when_projection_is_deferred() {
    refuse_out_of_range(support::fresh_deferred_store().await).await;
}

// The body of the two tests above, which clippy does not see as a test.
#[allow(clippy::unwrap_used)]
async fn refuse_out_of_range(pg: support::TestStore) {
    let mut huge = plan("huge");
    if let notify_core::Command::UpsertContent(c) = &mut huge.commands[0] {
        c.size = Some(u64::MAX);
    }
    assert!(matches!(pg.apply(&huge).await, Err(StorageError::Rejected { .. })));
    let mut ancient = plan("ancient");
    ancient.entry.timestamp = Timestamp::from_unix_micros(i64::MIN / 2);
    let err = pg.apply(&ancient).await.unwrap_err();
    assert!(matches!(err, StorageError::Rejected { .. }), "{err:?}");
    let mut nul = plan("nul");
    nul.entry.actor = Some("a\0b".to_owned());
    let err = pg.apply(&nul).await.unwrap_err();
    assert!(matches!(err, StorageError::Rejected { .. }), "{err:?}");
    assert!(pg.events(&EventQuery::default()).await.unwrap().items.is_empty());
    let bad = PageRequest { after: Some(Cursor::new("zz")), limit: 10 };
    assert!(matches!(pg.quarantined(&bad).await, Err(StorageError::InvalidCursor(_))));
}

/// An incompressible text of 9,000 characters: too long for an index entry, however
/// PostgreSQL compresses it.
fn too_long_for_an_index() -> String {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..9_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

/// An event the log refuses (an actor too long for the log's actor index) is refused before
/// it is acknowledged in both modes, and the events around it are stored: the deferred
/// writers log each event themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_log_refuses_is_refused_before_it_is_acknowledged_in_both_modes() {
    // The core refuses such a name in an event; a plan built in code can carry anything.
    let mut refused = EventBuilder::push("b-refused", time(2), "team/app")
        .manifest(&test_digest(2), 10)
        .plan(&Policy::default());
    refused.entry.actor = Some(too_long_for_an_index());
    for pg in [support::fresh_inline_store().await, support::fresh_deferred_store().await] {
        for p in [plan("a"), refused.clone(), plan("c")] {
            let outcome = pg.apply(&p).await;
            if p.entry.id == "b-refused" {
                // Not transient: the webhook quarantines it.
                assert!(outcome.as_ref().is_err_and(|e| !e.is_transient()), "{outcome:?}");
            } else {
                assert_eq!(outcome.unwrap(), notify_core::ApplyOutcome::Applied, "{}", p.entry.id);
            }
        }
        let logged: Vec<String> =
            pg.events(&EventQuery::default()).await.unwrap().items.into_iter().map(|e| e.id).collect();
        assert_eq!(logged, ["c", "a"]);
        assert!(pg.quarantined(&PageRequest::default()).await.unwrap().items.is_empty());
    }
}

/// An event the database refuses only when it projects it (a media type too long for the
/// index entry of the live tag that carries it) was already acknowledged: it is moved, out
/// of the log, to the quarantine with the database's reason, and the events queued around
/// it are projected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_event_the_database_refuses_is_quarantined_and_the_rest_projected() {
    let mut refused = EventBuilder::push("b-refused", time(2), "team/app")
        .manifest(&test_digest(2), 10)
        .tag("2.0")
        .plan(&Policy::default());
    for command in &mut refused.commands {
        if let notify_core::Command::UpsertContent(c) = command {
            c.media_type = Some(too_long_for_an_index());
        }
    }

    let inline = support::fresh_inline_store().await;
    assert!(inline.apply(&refused).await.is_err(), "refused inline, at once");

    let pg = support::fresh_deferred_store().await;
    for p in [plan("a"), refused.clone(), plan("c")] {
        assert_eq!(pg.apply(&p).await.unwrap(), notify_core::ApplyOutcome::Applied, "{}", p.entry.id);
    }
    let logged: Vec<String> =
        pg.events(&EventQuery::default()).await.unwrap().items.into_iter().map(|e| e.id).collect();
    assert_eq!(logged, ["c", "a"]);
    let quarantined = pg.quarantined(&PageRequest::default()).await.unwrap().items;
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0].key, "id:b-refused");
    assert_eq!(quarantined[0].registry.as_deref(), Some(refused.entry.registry.as_str()));
    assert_eq!(quarantined[0].raw, refused.entry.raw);
    assert!(quarantined[0].reason.contains("event b-refused"), "{}", quarantined[0].reason);
    assert!(quarantined[0].reason.contains("index row"), "{}", quarantined[0].reason);
    let repo = notify_core::RepoRef {
        registry: refused.entry.registry.clone(),
        repository: refused.entry.repository.clone(),
    };
    let tags = pg.tags(&repo, &PageRequest::default()).await.unwrap().items;
    let tags: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tags, ["1.0"], "the refused event's tag is nowhere");
    // Redelivered, it is logged and queued again and quarantined again, as the inline webhook
    // would.
    assert_eq!(pg.apply(&refused).await.unwrap(), notify_core::ApplyOutcome::Applied);
    assert_eq!(pg.quarantined(&PageRequest::default()).await.unwrap().items.len(), 1);
    assert_eq!(pg.events(&EventQuery::default()).await.unwrap().items.len(), 2);
}
