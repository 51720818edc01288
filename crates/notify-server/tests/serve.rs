//! The server on a real socket: TLS, graceful shutdown that finishes in-flight requests,
//! request timeouts, and the pruner of `log_retention`. Clients are `curl` and `openssl` generates the test certificate.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{StatusCode, header};
use common::*;
use notify_core::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag, QuarantineQuery,
    QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary, TagHistoryEntry,
    TagSummary, UnusedItem, UnusedQuery,
};
use notify_core::{
    ApplyOutcome, Digest, LogEntry, MemoryStore, PageRequest, Plan, RepoRef, Storage, StorageError, Tag,
    Timestamp,
};
use notify_server::config::TlsConfig;
use tokio::sync::oneshot;

/// The reference store with a delay before every write, like a slow database.
#[derive(Default)]
struct SlowStore {
    inner: MemoryStore,
    delay: Duration,
}

#[async_trait]
impl Storage for SlowStore {
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        tokio::time::sleep(self.delay).await;
        self.inner.apply(plan).await
    }
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        self.inner.quarantine(record).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError> {
        self.inner.repositories(query).await
    }
    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError> {
        self.inner.tags(repo, page).await
    }
    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        self.inner.tags_at(repo, instant, page).await
    }
    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        self.inner.tag_history(repo, tag, page).await
    }
    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        self.inner.digest(digest).await
    }
    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        self.inner.digest_repositories(digest, page).await
    }
    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        self.inner.digest_referrers(digest, page).await
    }
    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        self.inner.events(query).await
    }
    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        self.inner.repository_stats(repo).await
    }
    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
        self.inner.inventory(query).await
    }
    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        self.inner.unused(query).await
    }
    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError> {
        self.inner.quarantined(page).await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError> {
        self.inner.prune_events(before).await
    }
}

fn listener() -> TcpListener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

/// curl in a blocking thread: (status, body).
async fn curl(args: Vec<String>) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .args(&args)
            .output()
            .expect("curl is needed for these tests (apt-get install curl)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.trim().parse().unwrap_or(0), body.to_owned())
    })
    .await
    .unwrap()
}

fn post_args(url: &str) -> Vec<String> {
    let body = String::from_utf8(envelope(&[push_event("slow", "team/app", "1.0", DIGEST_A)])).unwrap();
    [
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {WEBHOOK_TOKEN}"),
        "-H",
        &format!("Content-Type: {V1}"),
        "--data-binary",
        &body,
        url,
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test]
async fn tls_serves_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make the test certificate (apt-get install openssl)");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));

    let mut config = config();
    config.tls = Some(TlsConfig { cert_file: cert.clone(), key_file: key });
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        notify_server::server::serve(&config, Arc::new(MemoryStore::new()), listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let https = format!("https://127.0.0.1:{port}");
    let mut answer = (0, String::new());
    for _ in 0..50 {
        answer = curl(vec!["--cacert".into(), cert.display().to_string(), format!("{https}/healthz")]).await;
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, (200, r#"{"status":"ok"}"#.to_owned()));
    let posted = curl(
        [vec!["--cacert".into(), cert.display().to_string()], post_args(&format!("{https}/events"))].concat(),
    )
    .await;
    assert_eq!(posted.0, 200, "{}", posted.1);
    // Plain HTTP on the TLS port does not get an answer.
    assert_ne!(curl(vec![format!("http://127.0.0.1:{port}/healthz")]).await.0, 200);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let store = Arc::new(SlowStore { inner: MemoryStore::new(), delay: Duration::from_millis(1500) });
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = config();
    let served_store = store.clone();
    let server = tokio::spawn(async move {
        notify_server::server::serve(&config, served_store, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if curl(vec![format!("{base}/healthz")]).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_flight = tokio::spawn(curl(post_args(&format!("{base}/events"))));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let asked = Instant::now();
    stop.send(()).unwrap();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the request in flight at shutdown was answered: {body}");
    server.await.unwrap().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(10));
    // Answered 2xx means stored.
    let log = store.inner.events(&EventQuery::default()).await.unwrap();
    assert_eq!(log.items.len(), 1);
    // And no new connection is accepted any more.
    assert_eq!(curl(vec![format!("{base}/healthz")]).await.0, 0);
}

#[tokio::test]
async fn a_request_that_takes_too_long_gets_503_with_retry_after() {
    let mut config = config();
    config.request_timeout = Duration::from_millis(200);
    let store = Arc::new(SlowStore { inner: MemoryStore::new(), delay: Duration::from_secs(2) });
    let app = notify_server::router(&config, store);
    let answer =
        post_events(&app, "/events", V1, envelope(&[push_event("slow", "team/app", "1.0", DIGEST_A)])).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.error_code(), "timeout");
    assert_eq!(answer.headers[header::RETRY_AFTER], "5");
}

#[tokio::test]
async fn with_a_retention_the_server_prunes_the_log_at_start_and_keeps_the_rest() {
    const DAY: i64 = 86_400;
    let store = Arc::new(MemoryStore::new());
    // Stored before the retention was set: 10 days old, 7 days and 30 minutes old (older than
    // the retention, but within the pruner's clock margin), 1 day old.
    let before = notify_server::router(&config(), store.clone());
    for (id, tag, age) in [("ten-days", "a", 10 * DAY), ("margin", "b", 7 * DAY + 1800), ("a-day", "c", DAY)]
    {
        let mut event = push_event(id, "team/app", tag, DIGEST_A);
        let at = chrono::Utc::now() - chrono::TimeDelta::seconds(age);
        event["timestamp"] = serde_json::json!(at.to_rfc3339());
        let answer = post_events(&before, "/events", V1, envelope(&[event])).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let ids = async || -> Vec<String> {
        store.events(&EventQuery::default()).await.unwrap().items.into_iter().map(|e| e.id).collect()
    };
    assert_eq!(ids().await, ["a-day", "margin", "ten-days"]);

    let mut config = config();
    config.log_retention = Some(Duration::from_secs(7 * DAY as u64));
    let listener = listener();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let served_store = store.clone();
    let server = tokio::spawn(async move {
        notify_server::server::serve(&config, served_store, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids().await.len() == 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ids().await, ["a-day", "margin"], "the log after the first prune");
    let tags = store
        .tags(
            &RepoRef { registry: "registry.test".into(), repository: "team/app".parse().unwrap() },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(tags.items.len(), 3, "pruning the log keeps the tags its events set");
    let (status, metrics) = curl(vec![
        format!("http://127.0.0.1:{port}/metrics"),
        "-H".into(),
        format!("Authorization: Bearer {READ_TOKEN}"),
    ])
    .await;
    assert_eq!(status, 200);
    assert!(metrics.contains("notify_events_pruned_total 1"), "{metrics}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
