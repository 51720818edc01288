//! What is committed stays: a store dropped and opened again answers the same, and a file left
//! at an older schema version by an older build opens, upgrades and keeps its data.

mod common;

use notify_core::query::QuarantineRecord;
use notify_core::testkit::fixtures::{AUTH, BASIC, REGISTRY3_SHAPE, replay, scenario_dir, scenario_plans};
use notify_core::testkit::{StoreSnapshot, snapshot};
use notify_core::{ApplyOutcome, Policy, Storage, Timestamp};
use notify_store_sqlite::{SqliteError, SqliteStore, migrate};

/// Replays every fixture scenario and quarantines one record.
async fn fill(store: &dyn Storage) {
    for scenario in [BASIC, AUTH, REGISTRY3_SHAPE] {
        replay(store, &scenario_dir(scenario), &Policy::default()).await;
    }
    let record = QuarantineRecord::new(
        Some("broken"),
        "{\"id\":\"broken\",  \"timestamp\":1}".to_owned(),
        "timestamp: invalid type".to_owned(),
        Some("registry.test".to_owned()),
        Timestamp::from_unix_micros(1_767_225_600_000_000),
    );
    assert_eq!(store.quarantine(&record).await.expect("quarantine"), ApplyOutcome::Applied);
}

/// Every fixture event delivered again is a duplicate.
async fn redeliver_everything(store: &dyn Storage) {
    for scenario in [BASIC, AUTH] {
        for plan in scenario_plans(&scenario_dir(scenario), &Policy::default()) {
            assert_eq!(
                store.apply(&plan).await.expect("apply"),
                ApplyOutcome::Duplicate,
                "{}",
                plan.entry.id
            );
        }
    }
}

fn index_names(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("the file opens");
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .expect("the schema reads");
    let names = stmt.query_map([], |row| row.get(0)).expect("the schema reads");
    names.collect::<Result<_, _>>().expect("index names are text")
}

#[tokio::test]
async fn a_reopened_store_answers_as_before_it_was_closed() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(&dir);
    let before: StoreSnapshot = {
        let store = SqliteStore::open(&config).await.unwrap();
        fill(&store).await;
        snapshot(&store).await
    };
    assert!(!before.events.items.is_empty());

    let store = SqliteStore::open(&config).await.unwrap();
    assert_eq!(snapshot(&store).await, before);
    redeliver_everything(&store).await;
    assert_eq!(snapshot(&store).await, before, "duplicates changed nothing");
}

#[tokio::test]
async fn every_clone_shares_the_file_and_the_last_one_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(&dir);
    let store = SqliteStore::open(&config).await.unwrap();
    let clone = store.clone();
    drop(store);
    fill(&clone).await;
    let expected = snapshot(&clone).await;
    drop(clone);
    let reopened = SqliteStore::open(&config).await.unwrap();
    assert_eq!(snapshot(&reopened).await, expected);
}

#[tokio::test]
async fn a_file_at_an_older_schema_version_upgrades_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(&dir);
    let before = {
        let old = SqliteStore::open_at_version(&config, 1).await.unwrap();
        assert_eq!(old.schema_version().await.unwrap(), 1);
        fill(&old).await;
        snapshot(&old).await
    };
    assert_eq!(index_names(&config.path), Vec::<String>::new(), "version 1 has no read indexes");

    let store = SqliteStore::open(&config).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), migrate::latest_version());
    assert_eq!(snapshot(&store).await, before);
    redeliver_everything(&store).await;
    let indexes = index_names(&config.path);
    for expected in ["events_at", "events_digest", "repositories_name", "links_digest", "quarantine_received"]
    {
        assert!(indexes.iter().any(|i| i == expected), "{expected} missing from {indexes:?}");
    }
}

#[tokio::test]
async fn reopening_a_current_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(&dir);
    let before = {
        let store = SqliteStore::open(&config).await.unwrap();
        fill(&store).await;
        snapshot(&store).await
    };
    let schema = |path: &std::path::Path| -> Vec<(String, Option<String>)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn.prepare("SELECT name, sql FROM sqlite_schema ORDER BY name").unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let schema_before = schema(&config.path);
    for _ in 0..2 {
        let store = SqliteStore::open(&config).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), migrate::latest_version());
        assert_eq!(snapshot(&store).await, before);
    }
    assert_eq!(schema(&config.path), schema_before);
}

#[tokio::test]
async fn a_file_of_a_newer_build_or_of_another_program_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(&dir);
    drop(SqliteStore::open(&config).await.unwrap());
    {
        let conn = rusqlite::Connection::open(&config.path).unwrap();
        conn.pragma_update(None, "user_version", migrate::latest_version() + 1).unwrap();
    }
    let err = SqliteStore::open(&config).await.unwrap_err();
    assert!(
        matches!(err, SqliteError::TooNew { found, .. } if found == migrate::latest_version() + 1),
        "{err}"
    );

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
    let err = SqliteStore::open(&notify_store_sqlite::SqliteConfig::new(&other)).await.unwrap_err();
    assert!(matches!(err, SqliteError::Foreign { .. }), "{err}");
    let conn = rusqlite::Connection::open(&other).unwrap();
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 1, "the foreign database was not altered");
}

#[tokio::test]
async fn the_store_url_creates_the_file_and_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("nested").join("notify.db");
    let url = format!("sqlite://{}?synchronous=normal", path.display());
    let store = SqliteStore::open_url(&url).await.unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.config().synchronous, notify_store_sqlite::Synchronous::Normal);
    store.ping().await.unwrap();
    assert!(path.is_file());
}

#[test]
fn a_store_opened_without_a_runtime_serves_one_later() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_blocking(&common::config_in(&dir)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        fill(&store).await;
        assert_eq!(store.schema_version().await.unwrap(), migrate::latest_version());
        redeliver_everything(&store).await;
    });
}
