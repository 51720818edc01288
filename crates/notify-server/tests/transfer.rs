//! Export and import: the embedded store's log replayed into PostgreSQL (and into the
//! reference store) answers every query as the embedded store does.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::cluster::{database_server, fresh_database};
use common::*;
use notify_core::testkit::snapshot;
use notify_core::{MemoryStore, Policy, Storage};
use notify_server::transfer::{self, Line, TransferError};
use notify_store_pg::{PgConfig, PgStore};
use notify_store_sqlite::{SqliteConfig, SqliteStore};

/// An embedded store fed every fixture through the webhook, plus quarantined events and an
/// envelope posted under `/events/{registry}`.
async fn loaded_sqlite(dir: &std::path::Path) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::open(&SqliteConfig::new(dir.join("notify.db"))).await.unwrap());
    let app = notify_server::router(&config(), store.clone());
    for (dir, content_type) in
        [("registry-2.8/basic", V1), ("registry-2.8/auth", V1), ("registry-3-shape", V2)]
    {
        for (name, body) in fixture_bodies(dir) {
            let answer = post_events(&app, "/events", content_type, body).await;
            assert_eq!(answer.status, StatusCode::OK, "{dir}/{name}: {}", answer.text());
        }
    }
    let mut bad_digest = push_event("bad-digest", "team/app", "9.9", DIGEST_A);
    bad_digest["target"]["digest"] = "sha256:not-hex".into();
    let body = envelope(&[bad_digest, serde_json::json!(42)]);
    assert_eq!(post_events(&app, "/events", V1, body).await.status, StatusCode::OK);
    let body = envelope(&[push_event("named", "team/named", "1.0", DIGEST_A)]);
    let answer = post_events(&app, "/events/mirror.example.com", V1, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    store
}

async fn export_bytes(store: &dyn Storage) -> Vec<u8> {
    let mut out = Vec::new();
    transfer::export(store, &mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_the_embedded_store_replays_into_postgres_identically() {
    let Some((server_url, _cluster)) = database_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = loaded_sqlite(dir.path()).await;
    let file = export_bytes(source.as_ref()).await;
    let expected = snapshot(source.as_ref()).await;
    assert!(expected.events.items.len() > 40, "the fixtures were not loaded");

    let text = String::from_utf8(file.clone()).unwrap();
    let lines: Vec<Line> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let events = lines.iter().filter(|l| matches!(l, Line::Event { .. })).count();
    let quarantined = lines.iter().filter(|l| matches!(l, Line::Quarantine(_))).count();
    assert_eq!((events, quarantined), (expected.events.items.len(), 2));
    // The registry a path named travels with the event.
    let named = lines.iter().find_map(|l| match l {
        Line::Event { registry, raw } if raw.contains(r#""id":"named""#) => Some(registry.as_str()),
        _ => None,
    });
    assert_eq!(named, Some("mirror.example.com"));

    let url = fresh_database(&server_url, "notify_import").await;
    let target = PgStore::connect(&PgConfig::new(&url)).await.unwrap();
    let summary = transfer::import(&target, &Policy::default(), &mut file.as_slice()).await.unwrap();
    assert_eq!((summary.applied, summary.duplicate, summary.quarantined), (events as u64, 0, 2));
    assert_eq!(snapshot(&target).await, expected);

    // Again, as after an interrupted import: nothing changes.
    let summary = transfer::import(&target, &Policy::default(), &mut file.as_slice()).await.unwrap();
    assert_eq!((summary.applied, summary.duplicate), (0, events as u64));
    assert_eq!(snapshot(&target).await, expected);

    // And the reference store agrees too.
    let memory = MemoryStore::new();
    transfer::import(&memory, &Policy::default(), &mut file.as_slice()).await.unwrap();
    assert_eq!(snapshot(&memory).await, expected);
}

#[tokio::test]
async fn what_is_not_an_export_is_refused_with_its_line() {
    let store = MemoryStore::new();
    let import = async |text: &str| {
        transfer::import(&store, &Policy::default(), &mut text.as_bytes()).await.unwrap_err()
    };
    let header = r#"{"type":"header","format":"registry-notify-export","version":1}"#;
    let event = r#"{"type":"event","registry":"r","raw":"{}"}"#;

    let line_of = |e: TransferError| match e {
        TransferError::Line { line, message } => (line, message),
        other => panic!("{other}"),
    };
    let (line, message) = line_of(import("").await);
    assert_eq!(line, 0);
    assert!(message.contains("no header"), "{message}");
    let (line, message) = line_of(import(&format!("{event}\n")).await);
    assert_eq!(line, 1);
    assert!(message.contains("header"), "{message}");
    let (line, message) = line_of(import(&format!("{header}\n{event}\nnot json\n")).await);
    assert_eq!(line, 3);
    assert!(message.contains("expected"), "{message}");
    let (line, message) =
        line_of(import(r#"{"type":"header","format":"registry-notify-export","version":9}"#).await);
    assert_eq!(line, 1);
    assert!(message.contains("version 9"), "{message}");

    // An event that does not parse here is quarantined, not lost.
    let summary =
        transfer::import(&store, &Policy::default(), &mut format!("{header}\n{event}\n").as_bytes())
            .await
            .unwrap();
    assert_eq!(summary.quarantined, 1);
    let quarantine = store.quarantined(&Default::default()).await.unwrap();
    assert_eq!(quarantine.items[0].raw, "{}");
    assert!(quarantine.items[0].reason.starts_with("import: "), "{}", quarantine.items[0].reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_moves_a_store_with_export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let source = loaded_sqlite(dir.path()).await;
    let expected = snapshot(source.as_ref()).await;
    drop(source);

    let bin = env!("CARGO_BIN_EXE_notify-server");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let from = format!("sqlite://{}", dir.path().join("notify.db").display());
    let to = format!("sqlite://{}", dir.path().join("copy.db").display());
    let file = dir.path().join("log.ndjson");
    let said = run(&["export", "--store-url", &from, "--log-filter", "warn", "-o", file.to_str().unwrap()]);
    assert!(
        said.contains(&format!("exported {} events and 2 quarantined", expected.events.items.len())),
        "{said}"
    );
    let said = run(&["import", "--store-url", &to, "--log-filter", "warn", file.to_str().unwrap()]);
    assert!(
        said.contains(&format!("{} applied, 0 already there, 2 quarantined", expected.events.items.len())),
        "{said}"
    );

    let copy = SqliteStore::open(&SqliteConfig::new(dir.path().join("copy.db"))).await.unwrap();
    assert_eq!(snapshot(&copy).await, expected);
}
