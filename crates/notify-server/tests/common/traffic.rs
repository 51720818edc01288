//! Registry-like traffic for the reliability tests: deterministic synthetic events in the
//! shapes a registry sends, a sender that delivers them as a registry does (one event per
//! POST, resent until a 2xx), and the reference answers (`MemoryStore`) they must produce.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use notify_core::testkit::{StoreSnapshot, snapshot};
use notify_core::{MemoryStore, Policy, Storage, parse_envelope, translate};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A small deterministic generator (xorshift): the same seed gives the same traffic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

pub fn digest_of(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    format!("sha256:{}", hash.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `n` events over `repositories` repositories: manifest pushes by tag, blob pushes, manifest
/// pulls by tag (GET and HEAD), blob pulls, mounts and tag deletes, with distinct ids and
/// increasing timestamps.
pub fn events(n: usize, repositories: usize, seed: u64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    let users = ["alice", "bob", "ci-bot"];
    (0..n)
        .map(|i| {
            let repo = format!("team{}/app{}", rng.below(4), rng.below(repositories));
            let tag = format!("v{}", rng.below(5));
            let manifest = digest_of(&format!("{repo}:{tag}:{}", rng.below(3)));
            let layer = digest_of(&format!("layer{}", rng.below(20)));
            let user = users[rng.below(users.len())];
            let micros = 1_700_000_000_000_000_i64 + i as i64 * 1_000;
            let timestamp = chrono::DateTime::from_timestamp_micros(micros)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let (action, method, target) = match rng.below(100) {
                0..15 => (
                    "push",
                    "PUT",
                    json!({"mediaType": OCI_MANIFEST, "digest": manifest, "size": 418, "tag": tag,
                           "references": [{"mediaType": LAYER, "digest": layer, "size": 1234}]}),
                ),
                15..25 => ("push", "PUT", json!({"mediaType": LAYER, "digest": layer, "size": 1234})),
                25..60 => ("pull", "GET", json!({"mediaType": OCI_MANIFEST, "digest": manifest, "size": 418, "tag": tag})),
                60..75 => ("pull", "HEAD", json!({"mediaType": OCI_MANIFEST, "digest": manifest, "size": 418, "tag": tag})),
                75..93 => ("pull", "GET", json!({"mediaType": LAYER, "digest": layer, "size": 1234})),
                93..97 => (
                    "mount",
                    "POST",
                    json!({"mediaType": LAYER, "digest": layer, "size": 1234, "fromRepository": "base/images"}),
                ),
                _ => ("delete", "DELETE", json!({"tag": tag})),
            };
            let mut target = target;
            target["repository"] = json!(repo);
            target["url"] = json!(format!("http://registry.test/v2/{repo}/manifests/{tag}"));
            json!({
                "id": format!("evt-{seed}-{i:06}"),
                "timestamp": timestamp,
                "action": action,
                "target": target,
                "request": {"id": format!("req-{i}"), "addr": "10.0.0.7:40000", "host": "registry.test",
                            "method": method, "useragent": "containerd/1.7"},
                "actor": {"name": user},
                "source": {"addr": "registry-0:5000", "instanceID": "instance-0"}
            })
        })
        .collect()
}

/// A registry's envelope of one event, as bytes.
pub fn body(event: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({ "events": [event] })).unwrap()
}

/// What a store holding exactly `events` answers, by the reference store.
pub async fn reference(events: &[Value]) -> StoreSnapshot {
    let store = MemoryStore::new();
    for event in events {
        let parsed = parse_envelope(&body(event), Some("application/json")).unwrap();
        for e in parsed.events {
            store.apply(&translate(&e.unwrap(), &Policy::default()).unwrap()).await.unwrap();
        }
    }
    snapshot(&store).await
}

/// What a registry does with one event: POST it until the answer is 2xx. Returns the
/// statuses of the failed attempts. Panics on a 4xx: a registry would be blocked for good.
pub async fn deliver(client: &reqwest::Client, url: &str, token: &str, event: &Value) -> Vec<u16> {
    let mut failures = Vec::new();
    let payload = body(event);
    loop {
        let sent = client
            .post(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", notify_core::MEDIA_TYPE_V1)
            .body(payload.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return failures,
            Ok(r) => {
                let status = r.status().as_u16();
                assert!(
                    !(400..500).contains(&status),
                    "a registry's event got {status}: {}",
                    r.text().await.unwrap_or_default()
                );
                failures.push(status);
            }
            // Connection refused or reset: the server is down or restarting.
            Err(_) => failures.push(0),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Delivery statistics of a run: how many attempts failed with each status (0: no answer).
#[derive(Debug, Default)]
pub struct Deliveries {
    pub failed: BTreeMap<u16, usize>,
}

/// Delivers `events` from `senders` concurrent registry-like senders, each taking the next
/// event of the list, to the URLs in turn (event `i` goes to `urls[i % urls.len()]`). The id
/// of each acknowledged event is added to `acked` as soon as its 2xx arrives.
pub async fn deliver_all(
    urls: Vec<String>,
    token: &str,
    events: Arc<Vec<Value>>,
    senders: usize,
    acked: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
) -> Deliveries {
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder().pool_max_idle_per_host(senders).build().unwrap();
    let tasks: Vec<_> = (0..senders)
        .map(|_| {
            let (next, events, client, urls, token, acked) =
                (next.clone(), events.clone(), client.clone(), urls.clone(), token.to_owned(), acked.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(event) = events.get(i) else { return failed };
                    failed.extend(deliver(&client, &urls[i % urls.len()], &token, event).await);
                    acked.lock().unwrap().insert(event["id"].as_str().unwrap().to_owned());
                }
            })
        })
        .collect();
    let mut deliveries = Deliveries::default();
    for task in tasks {
        for status in task.await.unwrap() {
            *deliveries.failed.entry(status).or_default() += 1;
        }
    }
    deliveries
}
