//! The pure translation of an event into a [`Plan`]: no I/O, no clock, deterministic.
//!
//! | action | needs | commands |
//! |---|---|---|
//! | push | digest | content, link (push); for a manifest by tag: tag set, push count |
//! | pull | digest | content, link (pull); pull count if the [`Policy`] counts it |
//! | mount | digest | content, link (mount, with `fromRepository`) |
//! | delete | tag | tag delete (2.7+ sends one per tag after a manifest delete; 3.x by name) |
//! | delete | digest | content delete: manifest, blob or, without media type, resolved by the store |
//! | delete | neither | repository delete |
//! | other | — | logged only |

use crate::command::{Content, ContentReference, Count, LinkVia, LogEntry, Plan, RepoRef};
use crate::{Action, Command, ContentKind, Event, Policy, classify_reference, classify_target};

/// Why an event that parsed cannot be projected. The server quarantines it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// Pushes, pulls and mounts are about content, named by digest.
    #[error("a {0} event needs target.digest")]
    MissingDigest(Action),
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Translates one event.
///
/// ```
/// use notify_core::{parse_event, translate, Command, Policy};
/// let event = parse_event(0, r#"{"id":"e1","timestamp":"2026-01-01T00:00:00Z","action":"delete",
///     "target":{"repository":"team/app","tag":"1.0"},"request":{"host":"r.example"}}"#).unwrap();
/// let plan = translate(&event, &Policy::default()).unwrap();
/// assert_eq!(plan.entry.registry, "r.example");
/// assert!(matches!(plan.commands[..], [Command::DeleteTag { .. }]));
/// ```
pub fn translate(event: &Event, policy: &Policy) -> Result<Plan, TranslateError> {
    let t = &event.target;
    let kind = classify_target(t.media_type.as_deref(), t.url.as_deref());
    let repo = RepoRef { registry: policy.registry_name(event), repository: t.repository.clone() };
    let actor = event.actor.name.clone();
    let stamp = crate::Stamp { at: event.timestamp, event_id: event.id.clone() };
    let is_head = event.request.method.eq_ignore_ascii_case("HEAD");
    let counts_client = policy.counts_client(event);

    let mut commands = Vec::new();
    let mut counted = false;
    match &event.action {
        Action::Push | Action::Pull | Action::Mount => {
            let digest =
                t.digest.clone().ok_or_else(|| TranslateError::MissingDigest(event.action.clone()))?;
            commands.push(Command::UpsertContent(content_of(event, kind, &digest)));
            let via = match event.action {
                Action::Push => LinkVia::Push,
                Action::Mount => LinkVia::Mount { from: t.from_repository.clone() },
                _ => LinkVia::Pull,
            };
            commands.push(Command::LinkRepository {
                repo: repo.clone(),
                digest: digest.clone(),
                stamp: stamp.clone(),
                actor: actor.clone(),
                via,
            });
            let count = Count {
                repo: repo.clone(),
                tag: t.tag.clone(),
                digest: Some(digest.clone()),
                actor: actor.clone(),
                at: event.timestamp,
            };
            if event.action == Action::Push && kind.is_manifest() {
                if let Some(tag) = &t.tag {
                    commands.push(Command::SetTag {
                        repo: repo.clone(),
                        tag: tag.clone(),
                        digest,
                        stamp: stamp.clone(),
                        actor: actor.clone(),
                    });
                }
                // A push counts when it is what a user pushed: a manifest by tag. The child
                // manifests of an index and referrers are pushed by digest as parts of it.
                if counts_client && t.tag.is_some() {
                    counted = true;
                    commands.push(Command::CountPush(count));
                }
            } else if event.action == Action::Pull {
                let counted_kind = kind.is_manifest() || policy.count_blob_pulls;
                let counted_method = !is_head || policy.count_head_requests;
                if counted_kind && counted_method && counts_client {
                    counted = true;
                    commands.push(Command::CountPull(count));
                }
            }
        }
        Action::Delete => match (&t.tag, &t.digest) {
            (Some(tag), _) => commands.push(Command::DeleteTag {
                repo: repo.clone(),
                tag: tag.clone(),
                stamp,
                actor: actor.clone(),
            }),
            (None, Some(digest)) => commands.push(Command::DeleteContent {
                repo: repo.clone(),
                digest: digest.clone(),
                kind,
                stamp,
                actor: actor.clone(),
            }),
            (None, None) => {
                commands.push(Command::DeleteRepository { repo: repo.clone(), stamp, actor: actor.clone() })
            }
        },
        Action::Other(_) => {}
    }

    let entry = LogEntry {
        id: event.id.clone(),
        timestamp: event.timestamp,
        action: event.action.clone(),
        registry: repo.registry,
        repository: repo.repository,
        tag: t.tag.clone(),
        digest: t.digest.clone(),
        media_type: t.media_type.clone(),
        kind,
        actor,
        client_ip: event.request.client_ip().map(str::to_owned),
        method: non_empty(&event.request.method),
        user_agent: non_empty(&event.request.user_agent),
        source_instance: non_empty(&event.source.instance_id),
        counted,
        raw: event.raw.clone(),
    };
    Ok(Plan { entry, commands })
}

fn content_of(event: &Event, kind: ContentKind, digest: &crate::Digest) -> Content {
    let t = &event.target;
    let mut references: Vec<ContentReference> = if kind.is_manifest() {
        t.references
            .iter()
            .map(|d| ContentReference {
                digest: d.digest.clone(),
                kind: classify_reference(kind, d.media_type.as_deref()),
                media_type: d.media_type.clone(),
                size: d.size,
            })
            .collect()
    } else {
        Vec::new()
    };
    // A manifest may list the same blob twice (two identical layers); the store keeps a set.
    references.sort();
    references.dedup_by(|a, b| a.digest == b.digest && a.kind == b.kind);
    Content {
        digest: digest.clone(),
        kind,
        media_type: t.media_type.clone(),
        size: t.content_size(),
        artifact_type: t.artifact_type.clone(),
        references,
        seen: event.timestamp,
    }
}
