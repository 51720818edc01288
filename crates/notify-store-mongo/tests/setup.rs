//! Setting up: configuration, index creation at every start, transaction detection, and the
//! errors of an unreachable deployment.

mod common;

use std::time::Duration;

use mongodb::bson::{Document, doc};
use notify_core::testkit::builder::{EventBuilder, test_digest, time};
use notify_core::{ApplyOutcome, Policy, Storage};
use notify_store_mongo::{MongoConfig, MongoError, MongoStore, TransactionMode};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn the_prefix_names_every_collection_and_indexes_are_created_idempotently() {
    runtime().block_on(async {
        let config = common::fresh_config().with_collection_prefix("reg1_");
        let store = common::store_with(config.clone()).await;
        let plan = EventBuilder::push("e1", time(1), "team/app")
            .manifest(&test_digest(1), 700)
            .tag("1.0")
            .plan(&Policy::default());
        assert_eq!(store.apply(&plan).await.unwrap(), ApplyOutcome::Applied);

        let mut names = store.database().list_collection_names().await.unwrap();
        names.sort();
        let expected = ["content", "events", "links", "quarantine", "repositories", "tag_history", "tags"];
        for name in expected {
            assert!(names.contains(&format!("reg1_{name}")), "{name} missing from {names:?}");
        }
        assert!(names.iter().all(|n| n.starts_with("reg1_")), "{names:?}");

        // A second start on the same database creates the same indexes again without error,
        // and finds the data where it was.
        let again = MongoStore::connect(&config).await.unwrap();
        assert_eq!(again.apply(&plan).await.unwrap(), ApplyOutcome::Duplicate);
        let coll = store.database().collection::<Document>("reg1_tags");
        let mut cursor = coll.list_indexes().await.unwrap();
        let mut indexes = Vec::new();
        while cursor.advance().await.unwrap() {
            let index = cursor.deserialize_current().unwrap();
            let options = index.options.unwrap_or_default();
            indexes.push((options.name.unwrap_or_default(), options.unique.unwrap_or(false)));
        }
        indexes.sort();
        assert_eq!(
            indexes,
            vec![
                ("_id_".to_owned(), false),
                ("head_digest".to_owned(), false),
                ("markers".to_owned(), false),
                ("tag".to_owned(), true),
            ]
        );
    });
}

/// An index an earlier version created and this one replaced is dropped at the next start,
/// so that a real MongoDB does not keep maintaining it on every write.
#[test]
fn a_superseded_index_is_dropped_at_start() {
    runtime().block_on(async {
        let config = common::fresh_config().with_collection_prefix("old_");
        let store = common::store_with(config.clone()).await;
        let database = store.database();
        let command = doc! {
            "createIndexes": "old_content",
            "indexes": [{ "key": { "ref_digests": 1 }, "name": "referenced" }],
        };
        database.run_command(command).await.unwrap();
        let names = || async {
            let mut cursor = database.collection::<Document>("old_content").list_indexes().await.unwrap();
            let mut names = Vec::new();
            while cursor.advance().await.unwrap() {
                names.push(
                    cursor
                        .deserialize_current()
                        .unwrap()
                        .options
                        .unwrap_or_default()
                        .name
                        .unwrap_or_default(),
                );
            }
            names.sort();
            names
        };
        assert_eq!(names().await, ["_id_", "referenced", "referrers"], "as an earlier version left it");
        MongoStore::connect(&config).await.unwrap();
        assert_eq!(names().await, ["_id_", "referrers"], "after a start of this version");
    });
}

#[test]
fn transactions_follow_the_deployment_and_the_configuration() {
    runtime().block_on(async {
        let auto = common::fresh_store().await;
        let hello =
            auto.database().client().database("admin").run_command(doc! { "hello": 1 }).await.unwrap();
        let replicated = hello.get_str("setName").is_ok() || hello.get_str("msg") == Ok("isdbgrid");
        assert_eq!(auto.uses_transactions(), replicated);

        let mut never = common::fresh_config();
        never.transactions = TransactionMode::Never;
        assert!(!common::store_with(never).await.uses_transactions());

        let mut always = common::fresh_config();
        always.transactions = TransactionMode::Always;
        match MongoStore::connect(&always).await {
            Ok(store) => assert!(replicated && store.uses_transactions()),
            Err(MongoError::TransactionsUnsupported) => assert!(!replicated),
            Err(e) => panic!("unexpected error: {e}"),
        }
    });
}

#[test]
fn an_unreachable_deployment_is_a_transient_failure() {
    runtime().block_on(async {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = MongoConfig::new(format!("mongodb://127.0.0.1:{port}/?directConnection=true"));
        config.server_selection_timeout = Some(Duration::from_millis(300));
        let err = MongoStore::connect(&config).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
    });
}

#[test]
fn a_bad_url_or_database_is_a_configuration_error() {
    runtime().block_on(async {
        let err = MongoStore::connect(&MongoConfig::new("postgres://nope")).await.unwrap_err();
        assert!(matches!(err, MongoError::Config(_)), "{err}");
        assert!(!err.is_transient());
        let err = MongoStore::connect(&common::fresh_config().with_database("")).await.unwrap_err();
        assert!(matches!(err, MongoError::Config(_)), "{err}");
    });
}

#[test]
fn ping_answers_when_the_store_is_up() {
    runtime().block_on(async {
        let store = common::fresh_store().await;
        store.ping().await.unwrap();
    });
}

#[test]
fn a_deployment_gone_away_makes_every_call_fail_as_transient() {
    runtime().block_on(async {
        let Some(mut proxy) = common::Proxy::start().await else {
            eprintln!("skipped: the URL under test cannot be proxied");
            return;
        };
        let mut config = common::fresh_config();
        config.url = proxy.url.clone();
        config.server_selection_timeout = Some(Duration::from_millis(500));
        let store = common::store_with(config).await;
        let policy = Policy::default();
        let first =
            EventBuilder::push("e1", time(1), "team/app").manifest(&test_digest(1), 700).plan(&policy);
        assert_eq!(store.apply(&first).await.unwrap(), ApplyOutcome::Applied);

        proxy.cut();
        let second =
            EventBuilder::push("e2", time(2), "team/app").manifest(&test_digest(2), 700).plan(&policy);
        let err = store.apply(&second).await.unwrap_err();
        assert!(err.is_transient(), "apply: {err}");
        let err = store.events(&Default::default()).await.unwrap_err();
        assert!(err.is_transient(), "events: {err}");
        let err = store.ping().await.unwrap_err();
        assert!(err.is_transient(), "ping: {err}");
    });
}
