//! What a media type says about content: manifest, index or blob, and how one manifest refers
//! to another piece of content.

use serde::{Deserialize, Serialize};

/// Docker image manifest, schema 1.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker image manifest, schema 1, signed.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Docker image manifest, schema 2.
pub const DOCKER_SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest (also the carrier of OCI artifacts, with `artifactType`).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI artifact manifest (from the withdrawn artifacts draft; some registries still hold them).
pub const OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// What a digest names, globally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// Known only by digest (a delete of content never seen before).
    Unknown,
    /// A blob: layer, config, or any other non-manifest content.
    Blob,
    /// A manifest that describes one image or artifact.
    Manifest,
    /// A manifest that lists other manifests (OCI index, Docker manifest list).
    Index,
}

impl ContentKind {
    /// Whether this is a manifest of either kind.
    pub fn is_manifest(self) -> bool {
        matches!(self, ContentKind::Manifest | ContentKind::Index)
    }

    /// The kind as stored, e.g. `manifest`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Unknown => "unknown",
            ContentKind::Blob => "blob",
            ContentKind::Manifest => "manifest",
            ContentKind::Index => "index",
        }
    }

    /// Parses [`ContentKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown" => ContentKind::Unknown,
            "blob" => ContentKind::Blob,
            "manifest" => ContentKind::Manifest,
            "index" => ContentKind::Index,
            _ => return None,
        })
    }
}

/// How a manifest refers to a piece of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceKind {
    /// The image configuration.
    Config,
    /// A layer (or any blob of an artifact).
    Layer,
    /// A manifest listed by an index.
    Child,
    /// The manifest an artifact is about (OCI `subject`).
    Subject,
}

impl ReferenceKind {
    /// The kind as stored, e.g. `layer`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Config => "config",
            ReferenceKind::Layer => "layer",
            ReferenceKind::Child => "child",
            ReferenceKind::Subject => "subject",
        }
    }

    /// Parses [`ReferenceKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "config" => ReferenceKind::Config,
            "layer" => ReferenceKind::Layer,
            "child" => ReferenceKind::Child,
            "subject" => ReferenceKind::Subject,
            _ => return None,
        })
    }
}

fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or("").trim()
}

/// Classifies content by media type alone: manifest and index types are recognised, anything
/// else that is non-empty is a blob (`application/octet-stream` is what blob pushes carry).
///
/// ```
/// use notify_core::{classify_media_type, ContentKind};
/// assert_eq!(classify_media_type("application/vnd.oci.image.index.v1+json"), ContentKind::Index);
/// assert_eq!(classify_media_type("application/octet-stream"), ContentKind::Blob);
/// assert_eq!(classify_media_type(""), ContentKind::Unknown);
/// ```
pub fn classify_media_type(media_type: &str) -> ContentKind {
    match essence(media_type) {
        "" => ContentKind::Unknown,
        DOCKER_MANIFEST_LIST | OCI_INDEX => ContentKind::Index,
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED | DOCKER_SCHEMA2 | OCI_MANIFEST | OCI_ARTIFACT_MANIFEST => {
            ContentKind::Manifest
        }
        _ => ContentKind::Blob,
    }
}

/// Classifies the content of an event target: the media type when it names a manifest, else
/// the URL's `/manifests/` or `/blobs/` path segment (which the registry always sets), else the
/// media type's verdict.
pub fn classify_target(media_type: Option<&str>, url: Option<&str>) -> ContentKind {
    let by_type = classify_media_type(media_type.unwrap_or(""));
    if by_type.is_manifest() {
        return by_type;
    }
    let path = url.map(|u| u.split(['?', '#']).next().unwrap_or(""));
    match path {
        Some(p) if p.contains("/manifests/") => ContentKind::Manifest,
        Some(p) if p.contains("/blobs/") => ContentKind::Blob,
        _ => by_type,
    }
}

/// How a manifest of kind `parent` refers to a descriptor of type `media_type`.
pub fn classify_reference(parent: ContentKind, media_type: Option<&str>) -> ReferenceKind {
    let mt = essence(media_type.unwrap_or(""));
    let child_is_manifest = classify_media_type(mt).is_manifest();
    match (parent, child_is_manifest) {
        (ContentKind::Index, true) => ReferenceKind::Child,
        (_, true) => ReferenceKind::Subject,
        _ if mt == DOCKER_CONFIG || mt == OCI_CONFIG => ReferenceKind::Config,
        _ => ReferenceKind::Layer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_format_is_recognised() {
        for mt in [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA2, OCI_MANIFEST, OCI_ARTIFACT_MANIFEST]
        {
            assert_eq!(classify_media_type(mt), ContentKind::Manifest, "{mt}");
        }
        for mt in [DOCKER_MANIFEST_LIST, OCI_INDEX] {
            assert_eq!(classify_media_type(mt), ContentKind::Index, "{mt}");
        }
        for mt in ["application/octet-stream", OCI_CONFIG, "application/vnd.oci.image.layer.v1.tar+gzip"] {
            assert_eq!(classify_media_type(mt), ContentKind::Blob, "{mt}");
        }
    }

    #[test]
    fn url_decides_when_the_media_type_is_silent() {
        let m = Some("http://r/v2/a/manifests/sha256:00");
        let b = Some("http://r/v2/a/blobs/sha256:00");
        assert_eq!(classify_target(None, m), ContentKind::Manifest);
        assert_eq!(classify_target(Some("text/plain"), m), ContentKind::Manifest);
        assert_eq!(classify_target(Some("application/octet-stream"), b), ContentKind::Blob);
        assert_eq!(classify_target(None, None), ContentKind::Unknown);
    }

    #[test]
    fn references_are_classified_by_parent_and_type() {
        assert_eq!(classify_reference(ContentKind::Manifest, Some(OCI_CONFIG)), ReferenceKind::Config);
        assert_eq!(classify_reference(ContentKind::Manifest, Some("x/y")), ReferenceKind::Layer);
        assert_eq!(classify_reference(ContentKind::Manifest, Some(OCI_MANIFEST)), ReferenceKind::Subject);
        assert_eq!(classify_reference(ContentKind::Index, Some(OCI_MANIFEST)), ReferenceKind::Child);
    }
}
