//! Events for hand-written cases, built as the JSON a registry sends and parsed with
//! [`parse_event`], so that every event a case stores has a realistic `raw`.
//!
//! Defaults follow what distribution 2.8 sends: an HTTP method matching the action, a client
//! address with a port, a `Host`, a user agent, an anonymous actor (`{}`), a source instance;
//! content events carry the `url` the registry builds. Any field, known or not, can be set with
//! [`EventBuilder::set`].

use serde_json::{Map, Value, json};

use crate::media_type::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::{ApplyOutcome, Digest, Event, Plan, Policy, Storage, Timestamp, parse_event, translate};

/// The registry host events carry unless told otherwise.
pub const DEFAULT_HOST: &str = "registry.test";
/// The client address events carry unless told otherwise.
pub const DEFAULT_ADDR: &str = "192.0.2.10:51000";
/// The user agent events carry unless told otherwise.
pub const DEFAULT_USER_AGENT: &str = "docker/27.3.1 go/go1.22.7";
/// The registry instance events carry unless told otherwise.
pub const DEFAULT_INSTANCE: &str = "5f0c1b9e-2d4a-4c1e-9a57-0b6f3e2d7c11";
/// The media type of an OCI image layer, as manifests reference it.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The media type blob pushes and pulls carry.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The instant the hand-written cases count from: 2026-03-01T12:00:00Z.
pub const EPOCH_MICROS: i64 = 1_772_366_400_000_000;

/// `seconds` after [`EPOCH_MICROS`].
pub fn time(seconds: i64) -> Timestamp {
    Timestamp::from_unix_micros(EPOCH_MICROS + seconds * 1_000_000)
}

/// `micros` microseconds after [`EPOCH_MICROS`].
pub fn time_micros(micros: i64) -> Timestamp {
    Timestamp::from_unix_micros(EPOCH_MICROS + micros)
}

/// A valid sha256 digest whose hex is `n`, zero-padded: distinct per `n`, ordered like `n`,
/// and recognisable in a failure message.
pub fn test_digest(n: u32) -> Digest {
    format!("sha256:{n:064x}").parse().expect("a zero-padded hex number is a valid sha256 digest")
}

/// An event id as distribution makes one: a version 4 UUID from 128 random bits, so that a
/// store's index of event ids takes each at a random place, as it does in production.
///
/// ```
/// use notify_core::testkit::builder::uuid_v4;
/// assert_eq!(uuid_v4(0, u64::MAX), "00000000-0000-4000-bfff-ffffffffffff");
/// ```
pub fn uuid_v4(high: u64, low: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        0x8000 | ((low >> 48) & 0x3fff),
        low & 0xffff_ffff_ffff
    )
}

/// What kind of content path the registry's `url` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlKind {
    Manifests,
    Blobs,
}

/// One event, as the JSON object a registry would put in an envelope.
///
/// ```
/// use notify_core::testkit::builder::{EventBuilder, test_digest, time};
/// let event = EventBuilder::push("e1", time(0), "team/app")
///     .manifest(&test_digest(1), 420)
///     .tag("1.0")
///     .actor("alice")
///     .event();
/// assert_eq!(event.target.tag.unwrap().as_str(), "1.0");
/// assert!(event.raw.contains("\"alice\""));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EventBuilder {
    value: Value,
    url: Option<UrlKind>,
}

impl EventBuilder {
    /// An event with any action (unknown ones included), at `at`, in `repository`.
    pub fn new(id: &str, action: &str, at: Timestamp, repository: &str) -> Self {
        let method = match action {
            "push" => "PUT",
            "pull" => "GET",
            "mount" => "POST",
            "delete" => "DELETE",
            _ => "GET",
        };
        let value = json!({
            "id": id,
            "timestamp": at.to_string(),
            "action": action,
            "target": { "repository": repository },
            "request": {
                "id": format!("req-{id}"),
                "addr": DEFAULT_ADDR,
                "host": DEFAULT_HOST,
                "method": method,
                "useragent": DEFAULT_USER_AGENT,
            },
            "actor": {},
            "source": { "addr": "registry:5000", "instanceID": DEFAULT_INSTANCE },
        });
        EventBuilder { value, url: None }
    }

    /// A push (`PUT`).
    pub fn push(id: &str, at: Timestamp, repository: &str) -> Self {
        Self::new(id, "push", at, repository)
    }

    /// A pull (`GET`; see [`EventBuilder::head`]).
    pub fn pull(id: &str, at: Timestamp, repository: &str) -> Self {
        Self::new(id, "pull", at, repository)
    }

    /// A cross-repository blob mount (`POST`).
    pub fn mount(id: &str, at: Timestamp, repository: &str) -> Self {
        Self::new(id, "mount", at, repository)
    }

    /// A delete (`DELETE`): of a manifest or blob with [`EventBuilder::digest`], of a tag with
    /// [`EventBuilder::tag`], of the repository with neither.
    pub fn delete(id: &str, at: Timestamp, repository: &str) -> Self {
        Self::new(id, "delete", at, repository)
    }

    /// Sets any field by its path of object keys, creating objects on the way; known or not.
    pub fn set(mut self, path: &[&str], value: Value) -> Self {
        let Some((last, parents)) = path.split_last() else {
            panic!("EventBuilder::set needs a non-empty path");
        };
        let mut node = &mut self.value;
        for key in parents {
            let object = node.as_object_mut().expect("EventBuilder::set: a path goes through objects only");
            node = object.entry((*key).to_owned()).or_insert_with(|| Value::Object(Map::new()));
        }
        node.as_object_mut()
            .expect("EventBuilder::set: a path goes through objects only")
            .insert((*last).to_owned(), value);
        self
    }

    /// Removes a field by its path, if present.
    pub fn remove(mut self, path: &[&str]) -> Self {
        let Some((last, parents)) = path.split_last() else {
            return self;
        };
        let mut node = &mut self.value;
        for key in parents {
            match node.get_mut(*key) {
                Some(next) => node = next,
                None => return self,
            }
        }
        if let Some(object) = node.as_object_mut() {
            object.remove(*last);
        }
        self
    }

    fn target(self, key: &str, value: Value) -> Self {
        self.set(&["target", key], value)
    }

    /// An OCI image manifest of `size` bytes (with the `url` of a manifest).
    pub fn manifest(self, digest: &Digest, size: u64) -> Self {
        self.content(OCI_MANIFEST, digest, size, UrlKind::Manifests)
    }

    /// An OCI image index of `size` bytes (with the `url` of a manifest).
    pub fn index(self, digest: &Digest, size: u64) -> Self {
        self.content(OCI_INDEX, digest, size, UrlKind::Manifests)
    }

    /// A blob of `size` bytes, as blob events carry it: `application/octet-stream` (with the
    /// `url` of a blob).
    pub fn blob(self, digest: &Digest, size: u64) -> Self {
        self.content(OCTET_STREAM, digest, size, UrlKind::Blobs)
    }

    fn content(mut self, media_type: &str, digest: &Digest, size: u64, url: UrlKind) -> Self {
        self.url = Some(url);
        self.media_type(media_type).digest(digest).size(size).target("length", json!(size))
    }

    /// The target's media type.
    pub fn media_type(self, media_type: &str) -> Self {
        self.target("mediaType", json!(media_type))
    }

    /// The target's digest (alone, it makes a delete a content delete).
    pub fn digest(self, digest: &Digest) -> Self {
        self.target("digest", json!(digest.as_str()))
    }

    /// The target's size.
    pub fn size(self, size: u64) -> Self {
        self.target("size", json!(size))
    }

    /// The target's tag.
    pub fn tag(self, tag: &str) -> Self {
        self.target("tag", json!(tag))
    }

    /// The target's URL, instead of the one built from host, repository and digest.
    pub fn url(mut self, url: &str) -> Self {
        self.url = None;
        self.target("url", json!(url))
    }

    /// The source repository of a mount.
    pub fn from_repository(self, repository: &str) -> Self {
        self.target("fromRepository", json!(repository))
    }

    /// Adds a descriptor to `target.references`.
    pub fn reference(mut self, media_type: &str, digest: &Digest, size: u64) -> Self {
        let descriptor = json!({ "mediaType": media_type, "size": size, "digest": digest.as_str() });
        let target = self.value.get_mut("target").and_then(Value::as_object_mut);
        let target = target.expect("an event built here always has a target object");
        let references = target.entry("references").or_insert_with(|| json!([]));
        references.as_array_mut().expect("references is an array").push(descriptor);
        self
    }

    /// Adds the OCI config and layer references of an image manifest.
    pub fn image(self, config: (&Digest, u64), layers: &[(&Digest, u64)]) -> Self {
        let mut b = self.reference(OCI_CONFIG, config.0, config.1);
        for (digest, size) in layers {
            b = b.reference(OCI_LAYER, digest, *size);
        }
        b
    }

    /// Adds an OCI manifest child to an index.
    pub fn child(self, digest: &Digest, size: u64) -> Self {
        self.reference(OCI_MANIFEST, digest, size)
    }

    /// The `Host` the client used.
    pub fn host(self, host: &str) -> Self {
        self.set(&["request", "host"], json!(host))
    }

    /// The HTTP method.
    pub fn method(self, method: &str) -> Self {
        self.set(&["request", "method"], json!(method))
    }

    /// Makes a pull a `HEAD` request.
    pub fn head(self) -> Self {
        self.method("HEAD")
    }

    /// The client's `ip:port`.
    pub fn addr(self, addr: &str) -> Self {
        self.set(&["request", "addr"], json!(addr))
    }

    /// The client's user agent.
    pub fn user_agent(self, user_agent: &str) -> Self {
        self.set(&["request", "useragent"], json!(user_agent))
    }

    /// The authenticated actor.
    pub fn actor(self, name: &str) -> Self {
        self.set(&["actor", "name"], json!(name))
    }

    /// The registry instance.
    pub fn source_instance(self, instance: &str) -> Self {
        self.set(&["source", "instanceID"], json!(instance))
    }

    /// The event's id.
    pub fn id(&self) -> &str {
        self.value.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The event object, with the registry's `url` filled in for content events.
    pub fn to_value(&self) -> Value {
        let mut value = self.value.clone();
        if let (Some(kind), Some(target)) = (self.url, value.get("target")) {
            let host = self.value.pointer("/request/host").and_then(Value::as_str).unwrap_or_default();
            let repository = target.get("repository").and_then(Value::as_str).unwrap_or_default();
            let digest = target.get("digest").and_then(Value::as_str).unwrap_or_default();
            let segment = match kind {
                UrlKind::Manifests => "manifests",
                UrlKind::Blobs => "blobs",
            };
            let url = format!("http://{host}/v2/{repository}/{segment}/{digest}");
            if let Some(target) = value.get_mut("target").and_then(Value::as_object_mut) {
                target.insert("url".to_owned(), json!(url));
            }
        }
        value
    }

    /// The event's JSON text, indented as distribution writes it.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.to_value()).expect("a JSON value always serialises")
    }

    /// A one-event envelope body.
    pub fn envelope(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&json!({ "events": [self.to_value()] }))
            .expect("a JSON value always serialises")
    }

    /// The parsed event; panics if the built JSON is not a valid event.
    pub fn event(&self) -> Event {
        let json = self.json();
        parse_event(0, &json).unwrap_or_else(|e| panic!("built event does not parse: {e}\n{json}"))
    }

    /// The event translated under `policy`; panics if it cannot be.
    pub fn plan(&self, policy: &Policy) -> Plan {
        translate(&self.event(), policy)
            .unwrap_or_else(|e| panic!("built event {} does not translate: {e}", self.id()))
    }
}

/// Applies the plan of each event under `policy`, in order; panics on a storage error.
pub async fn apply_all(store: &dyn Storage, events: &[EventBuilder], policy: &Policy) -> Vec<ApplyOutcome> {
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let plan = event.plan(policy);
        let outcome =
            store.apply(&plan).await.unwrap_or_else(|e| panic!("apply of event {} failed: {e}", event.id()));
        outcomes.push(outcome);
    }
    outcomes
}
