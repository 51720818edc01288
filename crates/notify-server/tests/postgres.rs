//! The server on PostgreSQL: two server processes on one database fed the same events at the
//! same time, and a database that stops in the middle of a delivery and comes back.
//!
//! Uses the database `NOTIFY_PG_URL` names, or starts a throwaway PostgreSQL 15 cluster
//! (`initdb`/`pg_ctl` from `NOTIFY_PG_BIN`, default `/usr/lib/postgresql/15/bin`, run as the
//! `postgres` user under root). Without either, the tests say so and do nothing. The stop and
//! restart test needs the throwaway cluster.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, header};
use common::cluster::*;
use common::*;
use notify_store_pg::{PgConfig, PgStore};

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(store_url: &str) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_notify-server"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--webhook-token", WEBHOOK_TOKEN])
        .args(["--api-token", READ_TOKEN, "--store-url", store_url, "--log-filter", "warn"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Server(child, port)
}

async fn curl(args: Vec<String>) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl").args(["-s", "-w", "\n%{http_code}"]).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.trim().parse().unwrap_or(0), body.to_owned())
    })
    .await
    .unwrap()
}

async fn wait_ready(port: u16) {
    for _ in 0..100 {
        if curl(vec![format!("http://127.0.0.1:{port}/readyz")]).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on port {port} not ready");
}

fn metric(metrics: &str, name: &str, filter: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_fed_the_same_events_count_each_once() {
    let Some((server_url, _cluster)) = database_server() else {
        return;
    };
    let database = fresh_database(&server_url, "notify_replicas").await;
    // The store's options ride in the URL, beside the driver's.
    let url = format!("{database}?application_name=replica&schema=replicas&pool_size=3&writers=2");
    // The schema is created by whichever replica comes first; both may race on it.
    let (a, b) = (spawn_server(&url), spawn_server(&url));
    wait_ready(a.1).await;
    wait_ready(b.1).await;

    let bodies = fixture_bodies("registry-2.8/basic");
    for (name, body) in &bodies {
        let body = String::from_utf8(body.clone()).unwrap();
        let post = |port: u16| {
            curl(vec![
                "-X".into(),
                "POST".into(),
                "-H".into(),
                format!("Authorization: Bearer {WEBHOOK_TOKEN}"),
                "-H".into(),
                format!("Content-Type: {V1}"),
                "--data-binary".into(),
                body.clone(),
                format!("http://127.0.0.1:{port}/events"),
            ])
        };
        let (ra, rb) = tokio::join!(post(a.1), post(b.1));
        assert_eq!((ra.0, rb.0), (200, 200), "{name}: {} / {}", ra.1, rb.1);
    }

    let mut applied = 0;
    let mut duplicate = 0;
    for port in [a.1, b.1] {
        let metrics = curl(vec![format!("http://127.0.0.1:{port}/metrics")]).await.1;
        applied += metric(&metrics, "notify_events_received_total", "outcome=\"applied\"");
        duplicate += metric(&metrics, "notify_events_received_total", "outcome=\"duplicate\"");
        assert_eq!(metric(&metrics, "notify_events_received_total", "outcome=\"failed\""), 0);
    }
    assert_eq!((applied, duplicate), (bodies.len() as u64, bodies.len() as u64));

    let auth = format!("Authorization: Bearer {READ_TOKEN}");
    let read = |port: u16, path: &str| {
        curl(vec!["-H".into(), auth.clone(), format!("http://127.0.0.1:{port}{path}")])
    };
    let log: serde_json::Value =
        serde_json::from_str(&read(a.1, "/api/v1/events?limit=1000").await.1).unwrap();
    let ids: BTreeSet<_> =
        log["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!((ids.len(), log["items"].as_array().unwrap().len()), (bodies.len(), bodies.len()));
    // The reads projected what was queued: nothing is left behind on either replica.
    for port in [a.1, b.1] {
        let metrics = curl(vec![format!("http://127.0.0.1:{port}/metrics")]).await.1;
        assert!(metrics.contains("\nnotify_store_backlog 0\n"), "{metrics}");
    }
    let stats_a = read(a.1, "/api/v1/repositories/stats?repository=team/app").await.1;
    let stats_b = read(b.1, "/api/v1/repositories/stats?repository=team/app").await.1;
    assert_eq!(stats_a, stats_b);
    let stats: serde_json::Value = serde_json::from_str(&stats_a).unwrap();
    assert_eq!((stats["push_count"].as_u64(), stats["pull_count"].as_u64()), (Some(1), Some(1)), "{stats}");
    let inventory = read(b.1, "/api/v1/inventory.ndjson").await.1;
    assert_eq!(inventory.lines().count(), 3, "{inventory}");

    let version = |schema: &str| {
        let store =
            PgStore::connect_without_migrating(&PgConfig::new(&database).with_schema(schema)).unwrap();
        async move { store.schema_version().await.unwrap() }
    };
    let latest = notify_store_pg::migrate::latest_version();
    assert_eq!(
        (version("replicas").await, version("notify").await),
        (Some(latest), None),
        "the schema of the URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_stopped_mid_delivery_gets_503_then_nothing_is_lost() {
    let Some(cluster) = own_cluster_to_stop() else { return };
    let url = fresh_database(&cluster.url(), "notify_outage").await;
    let store = PgStore::connect(&PgConfig::new(&url)).await.unwrap();
    let app = notify_server::router(&config(), Arc::new(store));

    let bodies = fixture_bodies("registry-2.8/basic");
    let (first, rest) = bodies.split_at(bodies.len() / 2);
    for (name, body) in first {
        assert_eq!(post_events(&app, "/events", V1, body.clone()).await.status, StatusCode::OK, "{name}");
    }

    cluster.stop();
    let (name, body) = &rest[0];
    let answer = post_events(&app, "/events", V1, body.clone()).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{name}: {}", answer.text());
    assert_eq!(answer.error_code(), "store_unavailable");
    assert!(answer.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(get_with(&app, "/readyz", &[]).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&app, "/api/v1/repositories").await.status, StatusCode::SERVICE_UNAVAILABLE);

    cluster.restart();
    let mut ready = false;
    for _ in 0..50 {
        if get_with(&app, "/readyz", &[]).await.status == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server did not recover its connections");
    // The registry resends the refused envelope first, then the rest.
    for (name, body) in rest {
        let answer = post_events(&app, "/events", V1, body.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}: {}", answer.text());
    }
    let log = get_ok(&app, "/api/v1/events?limit=1000").await;
    assert_eq!(log["items"].as_array().unwrap().len(), bodies.len());
    let mut tags = Vec::new();
    for repo in ["library/alpine-test", "team/app", "library/multi"] {
        tags.push(tag_names(&get_ok(&app, &format!("/api/v1/tags?repository={repo}")).await));
    }
    assert_eq!(tags, [vec!["latest"], vec!["1.0"], vec!["2.0"]]);
}
