//! Registry-like traffic for the reliability tests: the synthetic events of `notify-bench`, a
//! sender that delivers them as a registry does (one event per POST, resent until a 2xx), and
//! the reference answers (`MemoryStore`) they must produce.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use notify_core::testkit::{StoreSnapshot, snapshot};
use notify_core::{MemoryStore, Policy, Storage, parse_envelope, translate};
use serde_json::Value;

// Not every test binary uses all of them.
#[allow(unused_imports)]
pub use notify_bench::{Rng, body, digest_of, events};

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
