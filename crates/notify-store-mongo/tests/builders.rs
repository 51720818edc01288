//! Snapshots of every BSON document the backend sends, as canonical extended JSON (so that a
//! 32-bit integer where a 64-bit one belongs shows). The documents are part of the contract:
//! a change here changes what is stored or how it is found, and must be deliberate.

use mongodb::bson::{Bson, Document};
use notify_core::command::{Content, ContentReference, Count, LinkVia};
use notify_core::query::{EventQuery, LiveTagFilter, NameMatch, QuarantineRecord};
use notify_core::{
    Action, Command, ContentKind, Digest, LogEntry, ReferenceKind, RepoRef, Stamp, Tag, Timestamp,
};
use notify_store_mongo::builders::{self, Coll, EntryState};
use serde_json::Value;

fn json(d: Document) -> Value {
    Bson::Document(d).into_canonical_extjson()
}

fn digest(n: u8) -> Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32)).parse().expect("a valid digest")
}

fn tag(s: &str) -> Tag {
    s.parse().expect("a valid tag")
}

fn repo() -> RepoRef {
    RepoRef { registry: "registry.test".into(), repository: "team/app".parse().expect("a valid name") }
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_unix_micros(1_767_225_600_000_000 + second * 1_000_000 + 123_456)
}

fn stamp(second: i64, id: &str) -> Stamp {
    Stamp { at: at(second), event_id: id.into() }
}

fn writes(command: &Command, marker: Option<&str>) -> Value {
    let writes = builders::command_writes(command, marker).expect("writes of a valid command");
    Value::Array(
        writes
            .into_iter()
            .map(|w| {
                serde_json::json!({
                    "collection": w.coll.base_name(),
                    "filter": json(w.filter),
                    "update": json(w.update),
                    "guarded": w.guarded,
                })
            })
            .collect(),
    )
}

fn every_command() -> Vec<(&'static str, Command)> {
    let count = Count {
        repo: repo(),
        tag: Some(tag("1.0")),
        digest: Some(digest(1)),
        actor: Some("alice".into()),
        at: at(5),
    };
    vec![
        (
            "upsert_content",
            Command::UpsertContent(Content {
                digest: digest(1),
                kind: ContentKind::Manifest,
                media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
                size: Some(418),
                artifact_type: Some("application/vnd.example+json".into()),
                references: vec![
                    ContentReference {
                        digest: digest(2),
                        kind: ReferenceKind::Config,
                        media_type: Some("application/vnd.oci.image.config.v1+json".into()),
                        size: 50,
                    },
                    ContentReference {
                        digest: digest(3),
                        kind: ReferenceKind::Layer,
                        media_type: None,
                        size: 100,
                    },
                ],
                seen: at(1),
            }),
        ),
        (
            "upsert_content_blob_without_facts",
            Command::UpsertContent(Content {
                digest: digest(3),
                kind: ContentKind::Unknown,
                media_type: None,
                size: None,
                artifact_type: None,
                references: vec![],
                seen: at(1),
            }),
        ),
        (
            "link_repository",
            Command::LinkRepository {
                repo: repo(),
                digest: digest(1),
                stamp: stamp(1, "e1"),
                actor: Some("alice".into()),
                via: LinkVia::Mount { from: Some("library/base".parse().expect("a valid name")) },
            },
        ),
        (
            "set_tag",
            Command::SetTag {
                repo: repo(),
                tag: tag("1.0"),
                digest: digest(1),
                stamp: stamp(2, "e2"),
                actor: Some("alice".into()),
            },
        ),
        (
            "delete_tag",
            Command::DeleteTag { repo: repo(), tag: tag("1.0"), stamp: stamp(3, "e3"), actor: None },
        ),
        (
            "delete_content",
            Command::DeleteContent {
                repo: repo(),
                digest: digest(1),
                kind: ContentKind::Unknown,
                stamp: stamp(4, "e4"),
                actor: Some("bob".into()),
            },
        ),
        ("delete_repository", Command::DeleteRepository { repo: repo(), stamp: stamp(5, "e5"), actor: None }),
        ("count_push", Command::CountPush(count.clone())),
        ("count_pull", Command::CountPull(count.clone())),
        ("count_pull_anonymous_by_digest", Command::CountPull(Count { tag: None, actor: None, ..count })),
    ]
}

#[test]
fn index_specifications() {
    let names = builders::CollectionNames::new("notify_");
    for coll in Coll::ALL {
        insta::assert_json_snapshot!(
            format!("create_indexes_{}", coll.base_name()),
            json(builders::create_indexes_command(&names.name(coll), coll))
        );
    }
}

#[test]
fn command_writes_in_a_transaction() {
    for (name, command) in every_command() {
        insta::assert_json_snapshot!(format!("writes_{name}"), writes(&command, None));
    }
}

#[test]
fn command_writes_guarded_by_a_marker() {
    for (name, command) in every_command() {
        insta::assert_json_snapshot!(format!("guarded_writes_{name}"), writes(&command, Some("e9")));
    }
}

fn entry() -> LogEntry {
    LogEntry {
        id: "e1".into(),
        timestamp: at(1),
        action: Action::Pull,
        registry: "registry.test".into(),
        repository: "team/app".parse().expect("a valid name"),
        tag: Some(tag("1.0")),
        digest: Some(digest(1)),
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        kind: ContentKind::Manifest,
        actor: Some("alice".into()),
        client_ip: Some("10.0.0.7".into()),
        method: Some("GET".into()),
        user_agent: Some("skopeo/1.9.3".into()),
        source_instance: Some("a0b1".into()),
        counted: true,
        raw: r#"{"id":"e1"}"#.into(),
    }
}

#[test]
fn log_entries() {
    insta::assert_json_snapshot!(
        "log_entry_applied",
        json(builders::log_entry(&entry(), EntryState::Applied))
    );
    let bare = LogEntry {
        tag: None,
        digest: None,
        media_type: None,
        kind: ContentKind::Unknown,
        actor: None,
        client_ip: None,
        method: None,
        user_agent: None,
        source_instance: None,
        counted: false,
        action: Action::Other("replicate".into()),
        ..entry()
    };
    let pending = EntryState::Pending { commands: "[]", owner: "w-1", lease_until: 1_767_225_630_000 };
    insta::assert_json_snapshot!(
        "log_entry_pending_without_options",
        json(builders::log_entry(&bare, pending))
    );
}

#[test]
fn write_protocol_documents() {
    let all = serde_json::json!({
        "by_id": json(builders::by_id("e1")),
        "entry_state_projection": json(builders::entry_state_projection()),
        "claim_filter": json(builders::claim_filter("e1", "w-1", 1_767_225_630_000)),
        "lease_update": json(builders::lease_update("w-2", 1_767_225_660_000)),
        "owned_filter": json(builders::owned_filter("e1", "w-2")),
        "mark_applied_update": json(builders::mark_applied_update()),
        "release_update": json(builders::release_update()),
        "expired_pending_filter": json(builders::expired_pending_filter(1_767_225_630_000)),
        "marker_removal": json(builders::marker_removal("e1")),
        "marked_filter": json(builders::marked_filter()),
    });
    insta::assert_json_snapshot!("write_protocol", all);
}

#[test]
fn event_filters() {
    let everything = EventQuery {
        registry: Some("registry.test".into()),
        repository: Some("team/app".parse().unwrap()),
        tag: Some(tag("1.0")),
        digest: Some(digest(1)),
        action: Some(Action::Pull),
        actor: Some("alice".into()),
        client_ip: Some("10.0.0.7".into()),
        since: Some(at(0)),
        until: Some(at(60)),
        ..EventQuery::default()
    };
    let all = serde_json::json!({
        "none": json(builders::events_filter(&EventQuery::default(), None)),
        "every_filter": json(builders::events_filter(&everything, None)),
        "after_cursor": json(builders::events_filter(&EventQuery::default(), Some((1_767_225_601_123_456, "e1")))),
        "sort": json(builders::newest_first("at")),
    });
    insta::assert_json_snapshot!("event_filters", all);
}

#[test]
fn repository_filters() {
    let prefix = NameMatch::Prefix("Team/A".into());
    let substring = NameMatch::Substring("a.b-c".into());
    let impossible = NameMatch::Substring("*".into());
    let repos = vec![
        ("registry.test".to_string(), "team/app".to_string()),
        ("registry.test".to_string(), "team/web".to_string()),
        ("other.test".to_string(), "x".to_string()),
    ];
    let all = serde_json::json!({
        "all": builders::repositories_filter(None, None, None).map(json),
        "registry": builders::repositories_filter(Some("registry.test"), None, None).map(json),
        "prefix": builders::repositories_filter(Some("registry.test"), Some(&prefix), None).map(json),
        "substring": builders::repositories_filter(None, Some(&substring), None).map(json),
        "impossible": builders::repositories_filter(None, Some(&impossible), None).map(json),
        "empty_prefix": builders::repositories_filter(None, Some(&NameMatch::Prefix(String::new())), None).map(json),
        "after_cursor": builders::repositories_filter(None, None, Some(("registry.test", "team/app"))).map(json),
        "order": json(builders::repository_order()),
        "any_repository": json(builders::any_repository(&repos)),
        "any_repository_of_one_registry": json(builders::any_repository(&repos[..2])),
        "any_repository_of_none": json(builders::any_repository(&[])),
        "repository_register_projection": json(builders::repository_register_projection()),
        "repo_key": json(builders::repo_key(&repo())),
    });
    insta::assert_json_snapshot!("repository_filters", all);
}

#[test]
fn tag_and_link_filters() {
    let repos = vec![("registry.test".to_string(), "team/app".to_string())];
    let links = vec![
        ("registry.test".to_string(), "team/app".to_string(), digest(1).to_string()),
        ("registry.test".to_string(), "team/app".to_string(), digest(2).to_string()),
        ("registry.test".to_string(), "team/web".to_string(), digest(1).to_string()),
    ];
    let all = serde_json::json!({
        "tags": json(builders::tags_filter(&repo(), None)),
        "tags_after": json(builders::tags_filter(&repo(), Some("1.0"))),
        "tag_order": json(builders::tag_order()),
        "tag_heads_of": json(builders::tag_heads_of(&repos)),
        "tags_pointing_at": json(builders::tags_pointing_at(&repos, &digest(1))),
        "inventory": json(builders::inventory_filter(&LiveTagFilter::default(), None).unwrap()),
        "inventory_after": json(builders::inventory_filter(&LiveTagFilter::registry("registry.test"), Some(("registry.test", "team/app", "1.0"))).unwrap()),
        "inventory_namespace_tag": json(builders::inventory_filter(&LiveTagFilter { repository: Some(NameMatch::Prefix("Team/".into())), tag: Some("latest".parse().unwrap()), ..LiveTagFilter::default() }, None).unwrap()),
        "inventory_impossible_name": builders::inventory_filter(&LiveTagFilter { repository: Some(NameMatch::Substring("a b".into())), ..LiveTagFilter::default() }, None).is_none(),
        "inventory_order": json(builders::inventory_order()),
        "tag_history": json(builders::tag_history_filter(&repo(), &tag("1.0"), None)),
        "tag_history_after": json(builders::tag_history_filter(&repo(), &tag("1.0"), Some((1_767_225_601_123_456, "e1")))),
        "tag_history_order": json(builders::tag_history_order()),
        "deleted_links": json(builders::deleted_links(&links)),
        "links_in": json(builders::links_in(&links)),
        "link_register_projection": json(builders::link_register_projection()),
        "link_pull_projection": json(builders::link_pull_projection()),
        "links_of_digest": json(builders::links_of_digest(&digest(1), None)),
        "links_of_digest_after": json(builders::links_of_digest(&digest(1), Some(("registry.test", "team/app")))),
        "links_of_repository": json(builders::links_of_repository(&repo())),
        "tag_key": json(builders::tag_key(&repo(), &tag("1.0"))),
        "link_key": json(builders::link_key(&repo(), &digest(1))),
    });
    insta::assert_json_snapshot!("tag_and_link_filters", all);
}

#[test]
fn content_documents() {
    let all = serde_json::json!({
        "content_of": json(builders::content_of(&[digest(1).as_str(), digest(2).as_str()])),
        "content_kind_projection": json(builders::content_kind_projection()),
        "referrers_of": json(builders::referrers_of(&digest(2), None)),
        "referrers_from": json(builders::referrers_of(&digest(2), Some(digest(3).as_str()))),
        "referrer_order": json(builders::referrer_order()),
        "references_projection": json(builders::references_projection()),
        "reference_slot": builders::reference_slot(&"sha256.x:abc".parse().unwrap(), ReferenceKind::Child),
        "kind_keys": [
            builders::kind_key(ContentKind::Unknown, None),
            builders::kind_key(ContentKind::Blob, Some("application/octet-stream")),
            builders::kind_key(ContentKind::Manifest, Some("")),
            builders::kind_key(ContentKind::Index, Some("application/vnd.oci.image.index.v1+json")),
        ],
        "stamp": json(builders::stamp(&stamp(1, "e1"))),
        "delete_register": json(builders::delete_register(&stamp(1, "e1"), Some("alice"))),
        "tag_head_deleted": json(builders::tag_head(&stamp(1, "e1"), None, None)),
    });
    insta::assert_json_snapshot!("content_documents", all);
}

#[test]
fn quarantine_documents() {
    let record = QuarantineRecord::new(
        Some("e1"),
        "{not json".into(),
        "invalid JSON".into(),
        Some("registry.test".into()),
        at(9),
    );
    let all = serde_json::json!({
        "record": json(builders::quarantine_record(&record)),
        "first_page": json(builders::quarantine_filter(None)),
        "after_cursor": json(builders::quarantine_filter(Some((1_767_225_609_123_456, "id:e1")))),
        "order": json(builders::newest_first("received_at")),
    });
    insta::assert_json_snapshot!("quarantine_documents", all);
}

/// The encodings the merges rely on: byte order of kind keys is the order of (kind, media
/// type) pairs, with a missing media type first.
#[test]
fn kind_keys_sort_like_kind_and_media_type_pairs() {
    let pairs = [
        (ContentKind::Unknown, None),
        (ContentKind::Unknown, Some("")),
        (ContentKind::Blob, None),
        (ContentKind::Blob, Some("a")),
        (ContentKind::Blob, Some("b")),
        (ContentKind::Manifest, None),
        (ContentKind::Index, Some("")),
    ];
    for w in pairs.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!((a.0, a.1) < (b.0, b.1));
        assert!(builders::kind_key(a.0, a.1) < builders::kind_key(b.0, b.1), "{a:?} < {b:?}");
    }
}

#[test]
fn sizes_beyond_i64_are_rejected_not_truncated() {
    let command = Command::UpsertContent(Content {
        digest: digest(1),
        kind: ContentKind::Blob,
        media_type: None,
        size: Some(u64::MAX),
        artifact_type: None,
        references: vec![],
        seen: at(1),
    });
    let err = builders::command_writes(&command, None).unwrap_err();
    assert!(matches!(err, notify_core::StorageError::Rejected { .. }), "{err:?}");
}
