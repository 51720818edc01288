//! The webhook bodies captured from a real registry (`shared/fixtures`), and their replay.
//!
//! The fixtures live beside the repository, not inside it, so they are found at run time:
//! `NOTIFY_FIXTURES` when set, else a `shared/fixtures` directory in an ancestor of the test's
//! `CARGO_MANIFEST_DIR` or of the current directory. A missing fixtures directory fails the test
//! with the places searched: a suite that silently skipped its fixtures would pass on nothing.

use std::path::{Path, PathBuf};

use crate::query::QuarantineRecord;
use crate::{
    ApplyOutcome, Event, MEDIA_TYPE_V1, Plan, Policy, Storage, Timestamp, parse_envelope, translate,
};

/// The environment variable that names the fixtures directory explicitly.
pub const FIXTURES_ENV: &str = "NOTIFY_FIXTURES";

/// Registry 2.8, anonymous: pushes, a mount, pulls, an index, a retag, deletes.
pub const BASIC: &str = "registry-2.8/basic";
/// Registry 2.8 with htpasswd auth: actors `alice` and `ci-bot`.
pub const AUTH: &str = "registry-2.8/auth";
/// The `basic` events in the shape registry 3.x sends, plus a 3.x-only tag delete by name.
pub const REGISTRY3_SHAPE: &str = "registry-3-shape";

/// The `received_at` of every record [`replay`] quarantines: the suite reads no clock.
pub const REPLAY_RECEIVED_AT: Timestamp = Timestamp::from_unix_micros(1_767_225_600_000_000);

/// The fixtures directory; panics, saying where it looked, if there is none.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(FIXTURES_ENV) {
        let dir = PathBuf::from(dir);
        assert!(dir.is_dir(), "{FIXTURES_ENV}={} is not a directory", dir.display());
        return dir;
    }
    let mut starts = Vec::new();
    if let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        starts.push(PathBuf::from(manifest_dir));
    }
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    let mut searched = Vec::new();
    for start in &starts {
        for ancestor in start.ancestors() {
            let candidate = ancestor.join("shared").join("fixtures");
            if candidate.is_dir() {
                return candidate;
            }
            searched.push(candidate);
        }
    }
    let searched: Vec<String> = searched.iter().map(|p| format!("  {}", p.display())).collect();
    panic!(
        "registry notification fixtures not found; looked for shared/fixtures in the ancestors of \
         CARGO_MANIFEST_DIR and of the current directory:\n{}\nset {FIXTURES_ENV} to the fixtures \
         directory (the one holding registry-2.8/ and registry-3-shape/)",
        searched.join("\n")
    )
}

/// The directory of a scenario such as [`BASIC`]; panics if it does not exist.
pub fn scenario_dir(scenario: &str) -> PathBuf {
    let dir = fixtures_dir().join(scenario);
    assert!(dir.is_dir(), "fixture scenario {} does not exist", dir.display());
    dir
}

/// The envelope files of a scenario directory, in the order the registry sent them (by name).
/// Panics if there is none.
pub fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())).path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.json envelope in {}", dir.display());
    files
}

/// The bytes of an envelope file.
pub fn read_body(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The events of an envelope file, parsed; panics if the file or any event does not parse.
pub fn read_events(path: &Path) -> Vec<Event> {
    let body = read_body(path);
    let parsed = parse_envelope(&body, Some(MEDIA_TYPE_V1))
        .unwrap_or_else(|e| panic!("{} is not an envelope: {e}", path.display()));
    parsed
        .events
        .into_iter()
        .map(|event| event.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// Every event of a scenario directory, in file order.
pub fn scenario_events(dir: &Path) -> Vec<Event> {
    scenario_files(dir).iter().flat_map(|file| read_events(file)).collect()
}

/// Every event of a scenario directory translated under `policy`, in file order.
pub fn scenario_plans(dir: &Path, policy: &Policy) -> Vec<Plan> {
    scenario_events(dir)
        .iter()
        .map(|event| {
            translate(event, policy)
                .unwrap_or_else(|e| panic!("fixture event {} does not translate: {e}", event.id))
        })
        .collect()
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Events stored now.
    pub applied: usize,
    /// Events the store already had.
    pub duplicates: usize,
    /// Events that could not be parsed or translated, handed to [`Storage::quarantine`].
    pub quarantined: usize,
}

/// Replays every envelope file of a scenario directory into `store`, in file order: see
/// [`replay_bodies`].
pub async fn replay(store: &dyn Storage, dir: &Path, policy: &Policy) -> ReplayReport {
    let bodies: Vec<(String, Vec<u8>)> =
        scenario_files(dir).into_iter().map(|file| (file.display().to_string(), read_body(&file))).collect();
    replay_bodies(store, &bodies, policy).await
}

/// Replays webhook bodies, each labelled for messages, as the server would receive them with
/// `Content-Type: application/vnd.docker.distribution.events.v1+json`: every event is parsed,
/// translated under `policy` and applied; an event that fails to parse or to translate is
/// quarantined with [`QuarantineRecord::new`], received at [`REPLAY_RECEIVED_AT`], for the
/// registry `policy.registry` names (if any).
///
/// Panics on a body that is not an envelope at all (no registry sends one, so it is a broken
/// fixture) and on any storage error.
pub async fn replay_bodies(
    store: &dyn Storage,
    bodies: &[(String, Vec<u8>)],
    policy: &Policy,
) -> ReplayReport {
    let mut report = ReplayReport::default();
    for (label, body) in bodies {
        let parsed = parse_envelope(body, Some(MEDIA_TYPE_V1))
            .unwrap_or_else(|e| panic!("{label} is not a notification envelope: {e}"));
        for event in parsed.events {
            let record = match event {
                Ok(event) => match translate(&event, policy) {
                    Ok(plan) => {
                        match store.apply(&plan).await {
                            Ok(ApplyOutcome::Applied) => report.applied += 1,
                            Ok(ApplyOutcome::Duplicate) => report.duplicates += 1,
                            Err(e) => panic!("{label}: apply of event {} failed: {e}", event.id),
                        }
                        continue;
                    }
                    Err(e) => QuarantineRecord::new(
                        Some(&event.id),
                        event.raw.clone(),
                        e.to_string(),
                        policy.registry.clone(),
                        REPLAY_RECEIVED_AT,
                    ),
                },
                Err(e) => QuarantineRecord::new(
                    e.id.as_deref(),
                    e.raw.clone(),
                    e.to_string(),
                    policy.registry.clone(),
                    REPLAY_RECEIVED_AT,
                ),
            };
            store
                .quarantine(&record)
                .await
                .unwrap_or_else(|e| panic!("{label}: quarantine of {} failed: {e}", record.key));
            report.quarantined += 1;
        }
    }
    report
}
