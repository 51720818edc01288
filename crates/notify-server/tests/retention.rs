//! `log_retention` at the webhook: a delivery older than the retention is kept in quarantine
//! with the reason and not counted, since its log entry, the dedup gate, may be pruned; and
//! `notify-server prune`, the pruner run once from the command line.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use notify_core::query::EventQuery;
use notify_core::{MemoryStore, Storage};
use notify_store_sqlite::{SqliteConfig, SqliteStore};

const DAY: i64 = 86_400;

/// A manifest push stamped `days_ago` days before now.
fn push_aged(id: &str, tag: &str, days_ago: i64) -> serde_json::Value {
    let mut event = push_event(id, "team/app", tag, DIGEST_A);
    let at = chrono::Utc::now() - chrono::TimeDelta::seconds(days_ago * DAY);
    event["timestamp"] = serde_json::json!(at.to_rfc3339());
    event
}

async fn post(app: &axum::Router, event: serde_json::Value) -> serde_json::Value {
    let answer = post_events(app, "/events", V1, envelope(&[event])).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

#[tokio::test]
async fn a_delivery_older_than_the_retention_is_quarantined_not_counted() {
    let mut config = config();
    config.log_retention = Some(Duration::from_secs(7 * DAY as u64));
    let app = notify_server::router(&config, Arc::new(MemoryStore::new()));

    let old = post(&app, push_aged("old", "0.9", 8)).await;
    assert_eq!(old, serde_json::json!({"received": 1, "applied": 0, "duplicate": 0, "quarantined": 1}));
    let recent = post(&app, push_aged("recent", "1.0", 6)).await;
    assert_eq!(recent, serde_json::json!({"received": 1, "applied": 1, "duplicate": 0, "quarantined": 0}));
    // The registry's retry of the old one is the same quarantine record again.
    let again = post(&app, push_aged("old", "0.9", 8)).await;
    assert_eq!(again["quarantined"], 1);

    let tags = get_ok(&app, "/api/v1/tags?repository=team/app").await;
    assert_eq!(tag_names(&tags), ["1.0"], "only the recent push is counted");
    let log = get_ok(&app, "/api/v1/events").await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    let kept = get_ok(&app, "/api/v1/quarantine").await;
    let items = kept["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{kept}");
    let reason = items[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("event old: stamped ")
            && reason.contains("older than the event log's retention (7days)")
            && reason.ends_with("kept here, not counted"),
        "{reason}"
    );
    let metrics = get(&app, "/metrics").await.text();
    assert!(
        metrics.contains(r#"notify_events_received_total{action="push",outcome="quarantined"} 2"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_retention_an_old_delivery_is_counted() {
    let app = app();
    let old = post(&app, push_aged("old", "0.9", 3650)).await;
    assert_eq!(old["applied"], 1, "{old}");
    assert_eq!(tag_names(&get_ok(&app, "/api/v1/tags?repository=team/app").await), ["0.9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prune_command_prunes_the_configured_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notify.db");
    {
        let store = Arc::new(SqliteStore::open(&SqliteConfig::new(&file)).await.unwrap());
        let app = notify_server::router(&config(), store.clone());
        for (id, tag, days) in [("ten-days", "a", 10), ("eight-days", "b", 8), ("a-day", "c", 1)] {
            post(&app, push_aged(id, tag, days)).await;
        }
    }
    let url = format!("sqlite://{}", file.display());
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_notify-server"))
            .args(args)
            .args(["--store-url", &url])
            .env_remove("NOTIFY_CONFIG")
            .env_remove("NOTIFY_LOG_RETENTION")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    let (status, stderr) = run(&["prune"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("prune: no log_retention is set"), "{stderr}");

    let (status, stderr) = run(&["prune", "--log-retention", "7d"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("pruned 2 log entries stamped before "), "{stderr}");
    let (status, stderr) = run(&["prune", "--log-retention", "7d"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stderr.contains("pruned 0 log entries"), "{stderr}");

    let store = SqliteStore::open(&SqliteConfig::new(&file)).await.unwrap();
    let log = store.events(&EventQuery::default()).await.unwrap();
    let ids: Vec<_> = log.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["a-day"]);
}
