//! What the HTTP tests share: the fixtures, a store that can be made unavailable, and
//! request helpers that go through the real router.

// Helpers of tests: a failed unwrap is a failed test, with its location.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod cluster;
pub mod process;
pub mod traffic;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use notify_core::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, InventoryQuery, Page, PastTag, QuarantineQuery,
    QuarantineRecord, Referrer, RepositoryQuery, RepositoryStats, RepositorySummary, TagHistoryEntry,
    TagSummary, UnusedItem, UnusedQuery,
};
use notify_core::{
    ApplyOutcome, Digest, LogEntry, MemoryStore, PageRequest, Plan, RepoRef, Storage, StorageError, Tag,
    Timestamp,
};
use notify_server::config::{ApiAuth, Config, Secret, WebhookAuth};
use tower::ServiceExt as _;

pub const WEBHOOK_TOKEN: &str = "s3cret";
pub const READ_TOKEN: &str = "reader";
pub const V1: &str = notify_core::MEDIA_TYPE_V1;
pub const V2: &str = notify_core::MEDIA_TYPE_V2;

/// The shared fixtures: `NOTIFY_FIXTURES`, else `shared/fixtures` in an ancestor of this crate.
pub fn fixtures_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("NOTIFY_FIXTURES") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().map(|a| a.join("shared/fixtures")).find(|p| p.is_dir()).unwrap_or_else(|| {
        panic!(
            "notification fixtures not found: set NOTIFY_FIXTURES or put shared/fixtures in an \
                 ancestor of {}",
            manifest.display()
        )
    })
}

/// The envelopes of one fixture directory, in delivery order.
pub fn fixture_bodies(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir().join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

/// A configuration with a webhook token and a read token.
pub fn config() -> Config {
    Config::with_auth(
        WebhookAuth::Credentials { bearer: Some(Secret::new(WEBHOOK_TOKEN)), basic: None },
        ApiAuth::Bearer(Secret::new(READ_TOKEN)),
    )
}

/// A router over a fresh `MemoryStore`.
pub fn app() -> Router {
    notify_server::router(&config(), Arc::new(MemoryStore::new()))
}

/// A router over a store that can be switched off.
pub fn flaky_app() -> (Router, Arc<FlakyStore>) {
    let store = Arc::new(FlakyStore::default());
    (notify_server::router(&config(), store.clone()), store)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.text()))
            .to_owned()
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response: Response<Body> = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

/// POSTs an envelope with the webhook token.
pub async fn post_events(app: &Router, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::AUTHORIZATION, format!("Bearer {WEBHOOK_TOKEN}"))
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

/// GETs a path with the read token.
pub async fn get(app: &Router, path: &str) -> Answer {
    get_with(app, path, &[(header::AUTHORIZATION.as_str(), &format!("Bearer {READ_TOKEN}"))]).await
}

pub async fn get_with(app: &Router, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method(Method::GET).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

/// GETs a JSON answer that must be 200.
pub async fn get_ok(app: &Router, path: &str) -> serde_json::Value {
    let answer = get(app, path).await;
    assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.text());
    answer.json()
}

/// The tags of a list answer.
pub fn tag_names(page: &serde_json::Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|t| t["tag"].as_str().unwrap().to_owned()).collect()
}

/// One event envelope, built by hand.
pub fn envelope(events: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap()
}

pub const DIGEST_A: &str = "sha256:fc89dc8ad677564498bb3aacb8156776c6f11fac283361a99a9cd8137b66249d";

/// A manifest push event.
pub fn push_event(id: &str, repository: &str, tag: &str, digest: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "timestamp": "2026-11-22T20:55:53.18762358Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": 418,
            "repository": repository,
            "tag": tag
        },
        "request": { "host": "registry.test", "method": "PUT", "addr": "10.0.0.7:5123", "useragent": "skopeo/1.9.3" },
        "actor": { "name": "alice" }
    })
}

/// The real `MemoryStore`, with a switch that makes every call fail as an unreachable database
/// would. A fault injector around the reference store, not a stand-in for the server.
#[derive(Debug, Default)]
pub struct FlakyStore {
    pub inner: MemoryStore,
    down: AtomicBool,
    /// Fail only `apply` (so quarantine still works), to test mid-envelope failures.
    apply_rejects: AtomicBool,
    /// When not 0, the most live tags a page of the unused list examines, whatever the
    /// server asks: short and empty pages with a next cursor, as a large registry gives.
    unused_walk: AtomicU32,
}

impl FlakyStore {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes `apply` fail permanently (as a store refusing the data would).
    pub fn set_apply_rejects(&self, rejects: bool) {
        self.apply_rejects.store(rejects, Ordering::SeqCst);
    }

    /// Caps the walk of every page of the unused list (0: as asked).
    pub fn set_unused_walk(&self, walk: u32) {
        self.unused_walk.store(walk, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StorageError::unavailable("connection refused", std::io::Error::other("test: store is down")))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Storage for FlakyStore {
    async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        self.check()?;
        if self.apply_rejects.load(Ordering::SeqCst) {
            return Err(StorageError::rejected(
                "value out of range",
                std::io::Error::other("test: rejected"),
            ));
        }
        self.inner.apply(plan).await
    }
    async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        self.check()?;
        self.inner.quarantine(record).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.check()?;
        self.inner.ping().await
    }
    async fn repositories(&self, query: &RepositoryQuery) -> Result<Page<RepositorySummary>, StorageError> {
        self.check()?;
        self.inner.repositories(query).await
    }
    async fn tags(&self, repo: &RepoRef, page: &PageRequest) -> Result<Page<TagSummary>, StorageError> {
        self.check()?;
        self.inner.tags(repo, page).await
    }
    async fn tags_at(
        &self,
        repo: &RepoRef,
        instant: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<PastTag>, StorageError> {
        self.check()?;
        self.inner.tags_at(repo, instant, page).await
    }
    async fn tag_history(
        &self,
        repo: &RepoRef,
        tag: &Tag,
        page: &PageRequest,
    ) -> Result<Page<TagHistoryEntry>, StorageError> {
        self.check()?;
        self.inner.tag_history(repo, tag, page).await
    }
    async fn digest(&self, digest: &Digest) -> Result<Option<DigestInfo>, StorageError> {
        self.check()?;
        self.inner.digest(digest).await
    }
    async fn digest_repositories(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<DigestLocation>, StorageError> {
        self.check()?;
        self.inner.digest_repositories(digest, page).await
    }
    async fn digest_referrers(
        &self,
        digest: &Digest,
        page: &PageRequest,
    ) -> Result<Page<Referrer>, StorageError> {
        self.check()?;
        self.inner.digest_referrers(digest, page).await
    }
    async fn events(&self, query: &EventQuery) -> Result<Page<LogEntry>, StorageError> {
        self.check()?;
        self.inner.events(query).await
    }
    async fn repository_stats(&self, repo: &RepoRef) -> Result<Option<RepositoryStats>, StorageError> {
        self.check()?;
        self.inner.repository_stats(repo).await
    }
    async fn inventory(&self, query: &InventoryQuery) -> Result<Page<InventoryItem>, StorageError> {
        self.check()?;
        self.inner.inventory(query).await
    }

    async fn unused(&self, query: &UnusedQuery) -> Result<Page<UnusedItem>, StorageError> {
        self.check()?;
        match self.unused_walk.load(Ordering::SeqCst) {
            0 => self.inner.unused(query).await,
            walk => self.inner.unused(&UnusedQuery { walk: walk.min(query.walk), ..query.clone() }).await,
        }
    }
    async fn quarantined(&self, page: &QuarantineQuery) -> Result<Page<QuarantineRecord>, StorageError> {
        self.check()?;
        self.inner.quarantined(page).await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64, StorageError> {
        self.check()?;
        self.inner.prune_events(before).await
    }
}
