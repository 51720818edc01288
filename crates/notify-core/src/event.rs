//! The notification envelope and its events, as distribution serialises them.
//!
//! Field names follow distribution's `notifications/event.go`. Registry 2.x omits empty
//! descriptor fields; 3.x writes the OCI descriptor's `mediaType`, `digest` and `size` always,
//! empty on a tag delete. Both shapes parse to the same model: an empty string is `None`, and
//! `size: 0` without a digest is `None`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Digest, RepositoryName, Tag, Timestamp};

/// What a webhook POST carries: one or more events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The events, in the order the registry generated them.
    pub events: Vec<Event>,
}

/// One registry event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique per event (a UUID in practice); redeliveries repeat it, so it is the dedup key.
    pub id: String,
    /// When the registry generated the event.
    pub timestamp: Timestamp,
    /// What happened.
    pub action: Action,
    /// What it happened to.
    pub target: Target,
    /// The HTTP request that caused it.
    #[serde(default)]
    pub request: Request,
    /// Who made the request.
    #[serde(default)]
    pub actor: Actor,
    /// Which registry instance generated the event.
    #[serde(default)]
    pub source: Source,
    /// The event object exactly as received (its JSON text), unknown fields included.
    /// Empty for events built in code rather than parsed.
    #[serde(skip)]
    pub raw: String,
}

/// The kind of event. Values this version does not know are kept, not rejected.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Content was uploaded (blob) or a manifest was put (by tag or digest).
    Push,
    /// Content was fetched, by GET or HEAD.
    Pull,
    /// A blob was linked into a repository from another one without upload.
    Mount,
    /// A manifest, blob, tag or repository was deleted.
    Delete,
    /// An action this version does not model; logged as received.
    Other(String),
}

impl Action {
    /// The action as the registry spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Mount => "mount",
            Action::Delete => "delete",
            Action::Other(s) => s,
        }
    }
}

impl From<&str> for Action {
    fn from(s: &str) -> Self {
        match s {
            "push" => Action::Push,
            "pull" => Action::Pull,
            "mount" => Action::Mount,
            "delete" => Action::Delete,
            other => Action::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Action::from(s.as_ref()))
    }
}

/// The object of an event: an OCI descriptor plus where it lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Media type of the content; `None` on deletes and 3.x tag deletes.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Digest of the content; `None` on tag and repository deletes.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Deprecated duplicate of `size` that 2.x still sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// The repository the event happened in.
    pub repository: RepositoryName,
    /// The source repository of a mount.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub from_repository: Option<RepositoryName>,
    /// The URL of the content on the registry.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The tag, on manifest events by tag and on tag deletes.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// Descriptors the manifest references (config, layers, children, subject); present when
    /// the registry runs with `includereferences: true`.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Descriptor>,
    /// Alternative download locations.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Descriptor annotations.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type of an OCI artifact manifest.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform, on index children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// A content descriptor, as found in `target.references`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Alternative download locations.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Descriptor annotations.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type, for artifacts.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The platform of an index child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// An OCI platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// Operating system version.
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Required OS features.
    #[serde(
        default,
        rename = "os.features",
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The HTTP request behind an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The registry's request id; several events can share it (a delete and its tag deletes).
    #[serde(default)]
    pub id: String,
    /// The client's `ip:port`, as the registry saw it.
    #[serde(default)]
    pub addr: String,
    /// The `Host` the client used: the default registry name.
    #[serde(default)]
    pub host: String,
    /// HTTP method; `HEAD` pulls are existence checks.
    #[serde(default)]
    pub method: String,
    /// The client's `User-Agent`.
    #[serde(default, rename = "useragent")]
    pub user_agent: String,
}

impl Request {
    /// The client's IP address: `addr` without its port (IPv6 brackets removed).
    pub fn client_ip(&self) -> Option<&str> {
        let a = self.addr.trim();
        if a.is_empty() {
            return None;
        }
        if let Some(rest) = a.strip_prefix('[') {
            return rest.split_once(']').map(|(ip, _)| ip);
        }
        match a.rsplit_once(':') {
            // One colon: host:port. More: a bare IPv6 address.
            Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => Some(ip),
            _ => Some(a),
        }
    }
}

/// Who made the request; anonymous registries send `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The authenticated user name.
    #[serde(default, deserialize_with = "empty_as_none", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The registry instance that generated the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The instance's `host:port`.
    #[serde(default)]
    pub addr: String,
    /// A UUID that changes when the registry restarts.
    #[serde(default, rename = "instanceID")]
    pub instance_id: String,
}

fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Bounds on free-text fields. Registries send short values; anything longer is hostile or
/// broken, and would not fit the indexes of a database backend.
const LIMITS: &[(&str, usize)] = &[
    ("id", 256),
    ("target.mediaType", 255),
    ("target.url", 4096),
    ("target.artifactType", 255),
    ("request.id", 256),
    ("request.addr", 256),
    ("request.host", 255),
    ("request.method", 16),
    ("request.useragent", 1024),
    ("actor.name", 256),
    ("source.addr", 256),
    ("source.instanceID", 256),
];

/// Sizes are Go `int64`s in the registry; larger values cannot come from one.
const MAX_SIZE: u64 = i64::MAX as u64;

impl Event {
    /// Checks what serde cannot: field lengths, sizes within `int64`, a non-empty id.
    /// Returns the JSON path of the first offending field and what is wrong with it.
    pub(crate) fn validate(&self) -> Result<(), (String, String)> {
        let t = &self.target;
        let values: [Option<&str>; 12] = [
            Some(&self.id),
            t.media_type.as_deref(),
            t.url.as_deref(),
            t.artifact_type.as_deref(),
            Some(&self.request.id),
            Some(&self.request.addr),
            Some(&self.request.host),
            Some(&self.request.method),
            Some(&self.request.user_agent),
            self.actor.name.as_deref(),
            Some(&self.source.addr),
            Some(&self.source.instance_id),
        ];
        for ((path, max), value) in LIMITS.iter().zip(values) {
            if let Some(v) = value {
                if v.len() > *max {
                    return Err((
                        path.to_string(),
                        format!("{} bytes, more than the {max} allowed", v.len()),
                    ));
                }
            }
        }
        if self.id.is_empty() {
            return Err(("id".into(), "the event id is empty".into()));
        }
        let sizes = [("target.size", t.size), ("target.length", t.length)];
        let refs = t.references.iter().enumerate().map(|(i, d)| (i, Some(d.size)));
        for (path, size) in sizes
            .into_iter()
            .map(|(p, s)| (p.to_string(), s))
            .chain(refs.map(|(i, s)| (format!("target.references[{i}].size"), s)))
        {
            if size.is_some_and(|s| s > MAX_SIZE) {
                return Err((path, "size is larger than a registry can store (int64)".into()));
            }
        }
        Ok(())
    }
}

impl Target {
    /// The size, from `size` or the deprecated `length`.
    pub fn content_size(&self) -> Option<u64> {
        self.size.or(self.length)
    }

    /// Brings the 3.x shape to the 2.x one: 3.x writes `size: 0` on deletes, where 2.x writes
    /// nothing; a descriptor without digest or media type has no size.
    pub(crate) fn normalise(&mut self) {
        if self.digest.is_none() || self.media_type.is_none() {
            if self.size == Some(0) {
                self.size = None;
            }
            if self.length == Some(0) {
                self.length = None;
            }
        }
    }
}
