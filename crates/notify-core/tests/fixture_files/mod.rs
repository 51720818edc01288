//! Finding the captured webhook bodies (`shared/fixtures`) for the tests and benchmarks that
//! replay them.
//!
//! The fixtures live outside the repository, next to it, so their location is looked up at run
//! time: `NOTIFY_FIXTURES` if set, else the first `shared/fixtures` found walking up from this
//! crate. Not finding them is an error, never a reason to skip: a test that silently covers
//! nothing would pass in CI without checking anything.

use std::path::{Path, PathBuf};

use notify_core::{MEDIA_TYPE_V1, MEDIA_TYPE_V2};

/// One webhook body on disk.
pub(crate) struct Fixture {
    /// Path relative to the fixtures directory, `/`-separated, e.g.
    /// `registry-2.8/basic/003-push-manifest-tag-1.0.json`.
    pub(crate) rel: String,
    /// Where it is.
    pub(crate) path: PathBuf,
}

impl Fixture {
    /// The `Content-Type` the registry generation that produced this body sends with it.
    pub(crate) fn content_type(&self) -> &'static str {
        // The fixtures README: 2.x POSTs v1 envelopes, 3.x POSTs v2 envelopes.
        if self.rel.starts_with("registry-3") { MEDIA_TYPE_V2 } else { MEDIA_TYPE_V1 }
    }

    /// The body's bytes.
    pub(crate) fn body(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap_or_else(|e| panic!("cannot read {}: {e}", self.path.display()))
    }
}

/// The fixtures directory; panics with instructions when there is none.
pub(crate) fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NOTIFY_FIXTURES") {
        let dir = PathBuf::from(dir);
        assert!(dir.is_dir(), "NOTIFY_FIXTURES={} is not a directory", dir.display());
        return dir;
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.ancestors().map(|a| a.join("shared").join("fixtures")).find(|d| d.is_dir()).unwrap_or_else(
        || {
            panic!(
                "no webhook fixtures: set NOTIFY_FIXTURES to the fixtures directory, or check them out so \
                 that a `shared/fixtures` directory exists in an ancestor of {}",
                manifest_dir.display()
            )
        },
    )
}

/// Every webhook body under `dir` (files named `*.json`, at any depth), sorted by relative path.
///
/// Files with other extensions must be documentation (`.md`, `.txt`, e.g. the captured request
/// headers); anything else panics, so that a body saved under an unexpected name is noticed
/// instead of silently left out.
pub(crate) fn fixture_files(dir: &Path) -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display())).path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .expect("walked paths are under the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => out.push(Fixture { rel, path }),
                Some("md" | "txt") => {}
                _ => panic!(
                    "fixture {rel} is neither a webhook body (*.json) nor documentation (*.md, *.txt); \
                     rename it so it is either replayed or knowingly left out"
                ),
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    assert!(!out.is_empty(), "no *.json webhook bodies under {}", dir.display());
    out
}
