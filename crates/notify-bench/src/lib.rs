//! Registry-like traffic: deterministic synthetic events in the shapes a registry sends, and
//! the envelope a registry wraps each one in. Shared by the ingest benchmark and the server's
//! reliability tests.

use notify_core::testkit::builder::uuid_v4;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A small deterministic generator (xorshift): the same seed gives the same traffic.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Shuffles `items` in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// The sha256 digest of `text`, as a registry writes it.
pub fn digest_of(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    format!("sha256:{}", hash.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `n` events over `repositories` repositories: manifest pushes by tag, blob pushes, manifest
/// pulls by tag (GET and HEAD), blob pulls, mounts and tag deletes, with random version 4
/// UUIDs as ids (distinct, as a registry's) and increasing timestamps.
pub fn events(n: usize, repositories: usize, seed: u64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    // Ids of their own stream, so that the traffic is the same whatever they look like.
    let mut ids = Rng::new(seed ^ 0x1d5);
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
                .expect("a time in range")
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
                "id": uuid_v4(ids.next_u64(), ids.next_u64()),
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
    serde_json::to_vec_pretty(&json!({ "events": [event] })).expect("JSON values serialise")
}
