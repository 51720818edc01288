//! The reliability suite: the server binary under faults, fed registry-like traffic (one event
//! per POST, resent until a 2xx). Each test compares what the store holds at the end with the
//! reference answers for exactly the events sent: nothing lost, nothing counted twice.
//!
//! - the server killed with SIGKILL mid-run and restarted (embedded store, PostgreSQL);
//! - PostgreSQL stopped mid-run: 503s and an unready `/readyz`, then every retried event lands;
//! - every event delivered twice, concurrently, shuffled;
//! - two replicas on one database, duplicates crossing replicas;
//! - hostile input: clear 4xx for what is not an envelope, quarantine or verbatim storage for
//!   hostile values, and the server keeps serving.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{database_server, fresh_database, own_cluster_to_stop};
use common::process::{ServerProcess, TOKEN};
use common::traffic::{self, Rng, deliver_all, reference};
use notify_core::testkit::{StoreSnapshot, snapshot};
use notify_store_pg::{PgConfig, PgStore};
use notify_store_sqlite::{SqliteConfig, SqliteStore};
use serde_json::{Value, json};

type Acked = Arc<Mutex<BTreeSet<String>>>;

async fn pg_snapshot(url: &str) -> StoreSnapshot {
    snapshot(&PgStore::connect(&PgConfig::new(url)).await.unwrap()).await
}

async fn sqlite_snapshot(path: &std::path::Path) -> StoreSnapshot {
    snapshot(&SqliteStore::open(&SqliteConfig::new(path)).await.unwrap()).await
}

fn logged_ids(s: &StoreSnapshot) -> BTreeSet<String> {
    s.events.items.iter().map(|e| e.entry.id.clone()).collect()
}

/// Delivers `events` with `senders` registry-like senders to `server`, kills it with SIGKILL
/// once `kill_after` events are acknowledged, checks with `stored` that every event
/// acknowledged before the kill is in the store, restarts it, and lets the senders finish.
async fn kill_mid_run<F, Fut>(server: &mut ServerProcess, events: Vec<Value>, kill_after: usize, stored: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StoreSnapshot>,
{
    let acked: Acked = Arc::default();
    let sending = tokio::spawn(deliver_all(
        vec![server.url("/events")],
        TOKEN,
        Arc::new(events.clone()),
        4,
        acked.clone(),
    ));
    let started = Instant::now();
    while acked.lock().unwrap().len() < kill_after {
        assert!(started.elapsed() < Duration::from_secs(120), "deliveries stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let before_kill = acked.lock().unwrap().clone();
    let after_kill = stored().await;
    let logged = logged_ids(&after_kill);
    let missing: Vec<_> = before_kill.difference(&logged).collect();
    assert!(missing.is_empty(), "acknowledged before the kill but not stored: {missing:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;
    let deliveries = sending.await.unwrap();
    eprintln!(
        "killed after {} acknowledged events ({} stored at the kill); failed attempts by status: {:?}",
        before_kill.len(),
        after_kill.events.items.len(),
        deliveries.failed
    );
    assert!(!deliveries.failed.is_empty(), "the kill interrupted nothing");
    assert_eq!(acked.lock().unwrap().len(), events.len());
}

/// A server process on an embedded store in `dir`, and the store's file.
async fn embedded_server(dir: &std::path::Path) -> (ServerProcess, std::path::PathBuf) {
    let file = dir.join("notify.db");
    (ServerProcess::start(&format!("sqlite://{}", file.display()), &[]).await, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_on_the_embedded_store_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, file) = embedded_server(dir.path()).await;
    let events = traffic::events(5_000, 40, 1);
    kill_mid_run(&mut server, events.clone(), 2_000, || sqlite_snapshot(&file)).await;
    server.kill();
    assert_eq!(sqlite_snapshot(&file).await, reference(&events).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_on_postgres_loses_and_doubles_nothing() {
    let Some((server_url, _cluster)) = database_server() else { return };
    let url = fresh_database(&server_url, "notify_sigkill").await;
    let mut server = ServerProcess::start(&url, &[]).await;
    let events = traffic::events(5_000, 40, 2);
    kill_mid_run(&mut server, events.clone(), 2_000, || pg_snapshot(&url)).await;
    server.kill();
    assert_eq!(pg_snapshot(&url).await, reference(&events).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_run_answers_503_then_every_event_lands() {
    let Some(cluster) = own_cluster_to_stop() else { return };
    let url = fresh_database(&cluster.url(), "notify_outage_run").await;
    let server = ServerProcess::start(&url, &["--webhook-retry-after", "1s"]).await;
    let events = traffic::events(2_000, 30, 3);
    let acked: Acked = Arc::default();
    let sending = tokio::spawn(deliver_all(
        vec![server.url("/events")],
        TOKEN,
        Arc::new(events.clone()),
        4,
        acked.clone(),
    ));
    while acked.lock().unwrap().len() < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.stop();
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let status = client.get(server.url("/readyz")).send().await.unwrap().status().as_u16();
        if status == 503 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "/readyz stayed {status} with the database down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = acked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(acked.lock().unwrap().len(), during, "events acknowledged while the database was down");
    cluster.restart();
    let deliveries = sending.await.unwrap();
    eprintln!("outage after {during} events; failed attempts by status: {:?}", deliveries.failed);
    assert!(deliveries.failed.get(&503).is_some_and(|n| *n > 0), "{:?}", deliveries.failed);
    assert_eq!(client.get(server.url("/readyz")).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(pg_snapshot(&url).await, reference(&events).await);
}

/// Every event twice, shuffled, from 8 concurrent senders (spread over `urls`).
async fn deliver_twice_shuffled(urls: &[String], events: &[Value], seed: u64) {
    let mut twice: Vec<Value> = events.iter().chain(events).cloned().collect();
    Rng::new(seed).shuffle(&mut twice);
    let acked: Acked = Arc::default();
    let deliveries = deliver_all(urls.to_vec(), TOKEN, Arc::new(twice), 8, acked.clone()).await;
    assert_eq!(deliveries.failed.len(), 0, "{:?}", deliveries.failed);
    assert_eq!(acked.lock().unwrap().len(), events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_reordering_change_nothing_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, file) = embedded_server(dir.path()).await;
    let events = traffic::events(2_000, 30, 4);
    deliver_twice_shuffled(&[server.url("/events")], &events, 4).await;
    server.kill();
    assert_eq!(sqlite_snapshot(&file).await, reference(&events).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_duplicates_crossing_them_count_each_event_once() {
    let Some((server_url, _cluster)) = database_server() else { return };
    let url = fresh_database(&server_url, "notify_replicas_run").await;
    let (a, b) = (ServerProcess::start(&url, &[]).await, ServerProcess::start(&url, &[]).await);
    let events = traffic::events(2_000, 30, 5);
    // Event i of the doubled, shuffled list goes to replica i % 2: most duplicates cross.
    deliver_twice_shuffled(&[a.url("/events"), b.url("/events")], &events, 5).await;
    assert_eq!(pg_snapshot(&url).await, reference(&events).await);
}

async fn post(
    client: &reqwest::Client,
    server: &ServerProcess,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = client
        .post(server.url("/events"))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Posts `len` spaces with chunked transfer encoding, over a plain socket, and returns the
/// status of the answer.
async fn post_chunked(port: u16, token: &str, len: usize) -> u16 {
    use std::io::{BufRead as _, BufReader, Write as _};
    let token = token.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            socket,
            "POST /events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
            notify_core::MEDIA_TYPE_V1
        )
        .unwrap();
        let chunk = vec![b' '; 1 << 20];
        for _ in 0..len / chunk.len() {
            write!(socket, "{:x}\r\n", chunk.len()).unwrap();
            socket.write_all(&chunk).unwrap();
            socket.write_all(b"\r\n").unwrap();
        }
        socket.write_all(b"0\r\n\r\n").unwrap();
        let mut status_line = String::new();
        BufReader::new(socket).read_line(&mut status_line).unwrap();
        status_line.split(' ').nth(1).unwrap().parse().unwrap()
    })
    .await
    .unwrap()
}

async fn hostile_input_is_refused_or_stored_harmlessly(store_url: &str) {
    let server = ServerProcess::start(store_url, &["--webhook-max-body", "8MiB"]).await;
    let client = reqwest::Client::new();
    let v1 = notify_core::MEDIA_TYPE_V1;
    let digest = traffic::digest_of("hostile");
    let event = |id: &str, repository: Value, tag: Value, actor: Value| {
        json!({"id": id, "timestamp": "2026-11-23T10:00:00Z", "action": "push",
               "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                          "size": 10, "repository": repository, "tag": tag},
               "request": {"host": "registry.test", "method": "PUT", "useragent": "'; DROP TABLE events; --"},
               "actor": {"name": actor}})
    };
    let envelope = |events: Vec<Value>| serde_json::to_vec(&json!({ "events": events })).unwrap();

    // What is not an envelope: a clear 4xx, and the server goes on.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let truncated = envelope(vec![event("t", json!("a/b"), json!("1"), json!("x"))]);
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        // Four times the limit: more than the kernel buffers of a loopback connection, so
        // the client is still writing when the answer is ready, and reads it all the same.
        ("larger than the limit", v1, vec![b' '; 32 << 20], 413),
        ("deeply nested", v1, deep, 400),
        ("truncated", v1, truncated[..truncated.len() / 2].to_vec(), 400),
        ("invalid UTF-8", v1, b"{\"events\":[\"\xff\xfe\"]}".to_vec(), 400),
        ("not JSON", v1, b"<xml/>".to_vec(), 400),
        ("wrong content type", "text/plain", envelope(vec![]), 415),
        ("an operator object as the envelope", v1, br#"{"events":{"$gt":""}}"#.to_vec(), 400),
    ];
    for (what, content_type, body, expected) in cases {
        let (status, answer) = post(&client, &server, content_type, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {answer}");
        let health = client.get(server.url("/healthz")).send().await.unwrap().status();
        assert!(health.is_success(), "{what}: the server stopped serving");
    }

    // The same without a declared length: the limit is found while reading.
    assert_eq!(post_chunked(server.port, TOKEN, 32 << 20).await, 413);
    assert!(client.get(server.url("/healthz")).send().await.unwrap().status().is_success());

    // Hostile values inside an envelope: invalid names are quarantined, valid but hostile
    // strings are stored verbatim, and nothing else is touched.
    let injection = "'; DROP TABLE events; --";
    let events = vec![
        event("sql-repo", json!("a/b'; DROP TABLE events; --"), json!("1"), json!("x")),
        event("nosql-repo", json!({"$ne": null}), json!("1"), json!("x")),
        event("control-tag", json!("a/b"), json!("v1\u{0007}\u{0000}"), json!("x")),
        event("nosql-actor", json!("a/b"), json!("1"), json!({"$where": "sleep(1000)"})),
        event("sql-actor", json!("hostile/ok"), json!("latest"), json!(injection)),
    ];
    let (status, answer) = post(&client, &server, v1, envelope(events)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"received": 5, "applied": 1, "duplicate": 0, "quarantined": 4}));
    let log: Value = client
        .get(server.url("/api/v1/events?repository=hostile/ok"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"][0]["actor"], injection, "{log}");
    assert_eq!(log["items"][0]["user_agent"], injection, "{log}");
    let quarantine: Value =
        client.get(server.url("/api/v1/quarantine")).send().await.unwrap().json().await.unwrap();
    let keys: BTreeSet<&str> =
        quarantine["items"].as_array().unwrap().iter().map(|q| q["key"].as_str().unwrap()).collect();
    assert_eq!(keys, BTreeSet::from(["id:sql-repo", "id:nosql-repo", "id:control-tag", "id:nosql-actor"]));

    // 10,000 events in one envelope, resent as a registry would if it takes longer than the
    // request timeout: in the end all are stored, each once.
    let many: Vec<Value> = traffic::events(10_000, 50, 6);
    let started = Instant::now();
    let mut attempts = 0;
    let answer = loop {
        attempts += 1;
        let (status, answer) = post(&client, &server, v1, envelope(many.clone())).await;
        match status {
            200 => break answer,
            // Each attempt stores what it can before the timeout; a loaded machine needs more
            // of them, a stuck server never gets there.
            503 if started.elapsed() < Duration::from_secs(300) => continue,
            _ => panic!("{status}: {answer}"),
        }
    };
    eprintln!("10,000 events in one envelope: stored in {:?}, {attempts} attempt(s)", started.elapsed());
    let n = |k: &str| answer[k].as_u64().unwrap();
    assert_eq!(
        (n("received"), n("applied") + n("duplicate"), n("quarantined")),
        (10_000, 10_000, 0),
        "{answer}"
    );
    let stats: Value = client
        .get(server.url("/api/v1/repositories/stats?repository=hostile/ok"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["push_count"], 1, "{stats}");
    assert!(client.get(server.url("/healthz")).send().await.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    hostile_input_is_refused_or_stored_harmlessly(&format!("sqlite://{}", dir.path().join("n.db").display()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_on_postgres() {
    let Some((server_url, _cluster)) = database_server() else { return };
    let url = fresh_database(&server_url, "notify_hostile").await;
    hostile_input_is_refused_or_stored_harmlessly(&url).await;
}
