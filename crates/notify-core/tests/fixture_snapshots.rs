//! Snapshots of what every captured webhook body parses and translates to.
//!
//! Each `*.json` file under the fixtures directory (see `fixture_files`) gets one snapshot,
//! `snapshots/fixture_snapshots__<relative path with / as __, without .json>.snap`, holding the
//! key fields of each parsed event (or why it was refused) and the [`Plan`] the default
//! [`Policy`] makes of it. Fixture files are found at run time, so a new capture is covered by
//! adding the file and accepting its snapshot (`cargo insta test --accept`, or
//! `INSTA_UPDATE=always cargo test`). In CI (`CI=true`) insta writes nothing, so a changed or
//! missing snapshot fails the test.
//!
//! The raw event text is shown as its length only: it is the fixture itself, and the test
//! checks separately that it is passed through unchanged.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use notify_core::{
    Action, Digest, Event, EventError, Plan, Policy, RepositoryName, Tag, Timestamp, parse_envelope,
    translate,
};
use serde::Serialize;

mod fixture_files;

use fixture_files::{Fixture, fixture_files, fixtures_dir};

/// What one fixture file means.
#[derive(Serialize)]
struct FixtureSnapshot {
    content_type: &'static str,
    body_bytes: usize,
    /// Set when the body is not an envelope at all; `events` is then empty.
    envelope_error: Option<String>,
    events: Vec<EventOutcome>,
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum EventOutcome {
    Parsed { event: Box<EventSummary>, translation: Translation },
    Refused(EventErrorSummary),
}

/// The fields of an event that decide its translation, plus enough to recognise it.
#[derive(Serialize)]
struct EventSummary {
    id: String,
    timestamp: Timestamp,
    action: Action,
    repository: RepositoryName,
    from_repository: Option<RepositoryName>,
    tag: Option<Tag>,
    digest: Option<Digest>,
    media_type: Option<String>,
    size: Option<u64>,
    references: usize,
    method: String,
    actor: Option<String>,
    raw_bytes: usize,
}

impl EventSummary {
    fn of(e: &Event) -> Self {
        let t = &e.target;
        Self {
            id: e.id.clone(),
            timestamp: e.timestamp,
            action: e.action.clone(),
            repository: t.repository.clone(),
            from_repository: t.from_repository.clone(),
            tag: t.tag.clone(),
            digest: t.digest.clone(),
            media_type: t.media_type.clone(),
            size: t.content_size(),
            references: t.references.len(),
            method: e.request.method.clone(),
            actor: e.actor.name.clone(),
            raw_bytes: e.raw.len(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Translation {
    Plan(Box<Plan>),
    Error(String),
}

#[derive(Serialize)]
struct EventErrorSummary {
    index: usize,
    id: Option<String>,
    path: String,
    message: String,
    raw_bytes: usize,
}

impl EventErrorSummary {
    fn of(e: &EventError) -> Self {
        Self {
            index: e.index,
            id: e.id.clone(),
            path: e.path.clone(),
            message: e.message.clone(),
            raw_bytes: e.raw.len(),
        }
    }
}

fn snapshot_name(rel: &str) -> String {
    rel.strip_suffix(".json").unwrap_or(rel).replace('/', "__")
}

fn snapshot_of(fixture: &Fixture) -> FixtureSnapshot {
    let body = fixture.body();
    let body_text = String::from_utf8_lossy(&body);
    let content_type = fixture.content_type();
    let mut snapshot =
        FixtureSnapshot { content_type, body_bytes: body.len(), envelope_error: None, events: Vec::new() };
    match parse_envelope(&body, Some(content_type)) {
        Err(e) => snapshot.envelope_error = Some(e.to_string()),
        Ok(parsed) => {
            for result in parsed.events {
                let outcome = match result {
                    Ok(event) => {
                        assert!(
                            !event.raw.is_empty() && body_text.contains(&event.raw),
                            "{}: an event's raw text is not a verbatim slice of the body",
                            fixture.rel
                        );
                        let translation = match translate(&event, &Policy::default()) {
                            Ok(mut plan) => {
                                assert_eq!(
                                    plan.entry.raw, event.raw,
                                    "{}: the log entry's raw text",
                                    fixture.rel
                                );
                                plan.entry.raw = format!("<{} bytes>", plan.entry.raw.len());
                                Translation::Plan(Box::new(plan))
                            }
                            Err(e) => Translation::Error(e.to_string()),
                        };
                        EventOutcome::Parsed { event: Box::new(EventSummary::of(&event)), translation }
                    }
                    Err(e) => EventOutcome::Refused(EventErrorSummary::of(&e)),
                };
                snapshot.events.push(outcome);
            }
        }
    }
    snapshot
}

#[test]
fn every_fixture_parses_and_translates_as_snapshotted() {
    let dir = fixtures_dir();
    let fixtures = fixture_files(&dir);
    let mut failed = Vec::new();
    for fixture in &fixtures {
        let name = snapshot_name(&fixture.rel);
        // One failing fixture must not hide the others: collect, then fail once with the list.
        let result = catch_unwind(AssertUnwindSafe(|| {
            let snapshot = snapshot_of(fixture);
            insta::with_settings!({
                description => fixture.rel.as_str(),
                omit_expression => true,
            }, {
                insta::assert_yaml_snapshot!(name.as_str(), snapshot);
            });
        }));
        if result.is_err() {
            failed.push(fixture.rel.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} fixtures do not match their snapshots (review with `cargo insta review`): {failed:#?}",
        failed.len(),
        fixtures.len()
    );
}

/// A snapshot whose fixture is gone would otherwise linger, unchecked, forever.
#[test]
fn every_fixture_snapshot_has_its_fixture() {
    let fixtures: BTreeSet<String> =
        fixture_files(&fixtures_dir()).iter().map(|f| snapshot_name(&f.rel)).collect();
    let snapshots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let Ok(entries) = std::fs::read_dir(&snapshots) else {
        // No snapshot directory yet: the other test reports every fixture as missing.
        return;
    };
    let orphans: Vec<String> = entries
        .map(|e| e.expect("list the snapshot directory").file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_prefix("fixture_snapshots__")?.strip_suffix(".snap").map(str::to_owned))
        .filter(|name| !fixtures.contains(name))
        .collect();
    assert!(orphans.is_empty(), "snapshots without a fixture (delete them): {orphans:#?}");
}

/// The plans of a fixture's events, without their raw text.
fn translated(fixture: &Fixture) -> Vec<Plan> {
    let parsed = parse_envelope(&fixture.body(), Some(fixture.content_type()))
        .unwrap_or_else(|e| panic!("{}: {e}", fixture.rel));
    parsed
        .events
        .into_iter()
        .map(|r| {
            let event = r.unwrap_or_else(|e| panic!("{}: {e}", fixture.rel));
            let mut plan =
                translate(&event, &Policy::default()).unwrap_or_else(|e| panic!("{}: {e}", fixture.rel));
            plan.entry.raw.clear();
            plan
        })
        .collect()
}

/// The 3.x shape (descriptor fields always present, empty on tag deletes; v2 content type) is a
/// re-serialisation of the 2.8 captures, so both must mean exactly the same to a store.
#[test]
fn registry_3_shaped_events_translate_like_their_2_8_originals() {
    let fixtures = fixture_files(&fixtures_dir());
    let file_name = |f: &Fixture| f.rel.rsplit('/').next().unwrap_or_default().to_owned();
    let originals: Vec<&Fixture> =
        fixtures.iter().filter(|f| f.rel.starts_with("registry-2.8/basic/")).collect();
    let reshaped: Vec<&Fixture> =
        fixtures.iter().filter(|f| f.rel.starts_with("registry-3-shape/")).collect();
    assert!(!originals.is_empty() && !reshaped.is_empty(), "both fixture sets are needed");

    let mut compared = 0;
    for original in &originals {
        let Some(v3) = reshaped.iter().find(|f| file_name(f) == file_name(original)) else {
            panic!("{} has no registry-3-shape counterpart", original.rel);
        };
        // Plans, not events: 3.x's `size: 0` on a delete by digest survives parsing (a digest is
        // present) but means nothing to a delete, so the events may differ where the plans may not.
        assert_eq!(translated(original), translated(v3), "{}: plans differ from the 2.8 ones", v3.rel);
        compared += 1;
    }
    assert_eq!(compared, originals.len());
    // The rest exist only in 3.x (the delete of a tag by name); they still have to translate.
    for only_v3 in reshaped.iter().filter(|f| !originals.iter().any(|o| file_name(o) == file_name(f))) {
        assert!(!translated(only_v3).is_empty(), "{}: no events", only_v3.rel);
    }
}
