//! The event log: filters, order, and actions no registry sent before.

use serde_json::Value;

use super::{
    digest_info_opt, history_of, inventory_of, log_ids, log_of, name, repo, repositories_of, some, tag,
    tags_of,
};
use crate::media_type::OCI_MANIFEST;
use crate::query::{EventQuery, RepositoryQuery};
use crate::testkit::builder::{
    DEFAULT_HOST, DEFAULT_INSTANCE, DEFAULT_USER_AGENT, EventBuilder, apply_all, test_digest, time,
    time_micros,
};
use crate::testkit::snapshot::read_pages;
use crate::{Action, ContentKind, LogEntry, Policy, Storage};

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Each filter of the event log alone (registry, repository, tag, digest, action, an unknown
/// action, actor, client IP, `since` inclusive, `until` exclusive) and several combined select
/// exactly the matching events, newest first.
pub async fn event_filters_match_alone_and_combined(store: &dyn Storage) {
    let (m1, m2, l1) = (test_digest(1), test_digest(2), test_digest(0x11));
    let events = [
        EventBuilder::push("f1", time(10), "team/app")
            .host("r1.test")
            .manifest(&m1, 400)
            .tag("1.0")
            .actor("alice")
            .addr("10.0.0.1:5000"),
        EventBuilder::pull("f2", time(11), "team/app")
            .host("r1.test")
            .manifest(&m1, 400)
            .tag("1.0")
            .actor("bob")
            .addr("10.0.0.2:5001"),
        EventBuilder::pull("f3", time(12), "team/app")
            .host("r1.test")
            .manifest(&m1, 400)
            .addr("[2001:db8::1]:443"),
        EventBuilder::push("f4", time(12), "team/app")
            .host("r2.test")
            .manifest(&m2, 400)
            .tag("1.0")
            .actor("alice")
            .addr("10.0.0.1:5002"),
        EventBuilder::push("f5", time(13), "lib/x")
            .host("r2.test")
            .blob(&l1, 100)
            .actor("alice")
            .addr("10.0.0.1:5003"),
        EventBuilder::delete("f6", time(14), "lib/x")
            .host("r1.test")
            .tag("1.0")
            .actor("carol")
            .addr("10.0.0.3:5004"),
        EventBuilder::new("f7", "replicate", time(15), "team/app")
            .host("r1.test")
            .manifest(&m1, 400)
            .actor("bob")
            .addr("10.0.0.2:5005"),
        EventBuilder::delete("f8", time(16), "team/app").host("r2.test").digest(&m2).addr("10.0.0.1:5006"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let q = EventQuery::default;
    let cases: Vec<(&str, EventQuery, Vec<String>)> = vec![
        ("no filter", q(), ids(&["f8", "f7", "f6", "f5", "f4", "f3", "f2", "f1"])),
        (
            "registry r1",
            EventQuery { registry: some("r1.test"), ..q() },
            ids(&["f7", "f6", "f3", "f2", "f1"]),
        ),
        ("registry r2", EventQuery { registry: some("r2.test"), ..q() }, ids(&["f8", "f5", "f4"])),
        ("registry R1 (exact)", EventQuery { registry: some("R1.test"), ..q() }, ids(&[])),
        (
            "repository team/app",
            EventQuery { repository: Some(name("team/app")), ..q() },
            ids(&["f8", "f7", "f4", "f3", "f2", "f1"]),
        ),
        ("repository lib/x", EventQuery { repository: Some(name("lib/x")), ..q() }, ids(&["f6", "f5"])),
        ("repository team (exact)", EventQuery { repository: Some(name("team")), ..q() }, ids(&[])),
        ("tag 1.0", EventQuery { tag: Some(tag("1.0")), ..q() }, ids(&["f6", "f4", "f2", "f1"])),
        ("digest m1", EventQuery { digest: Some(m1.clone()), ..q() }, ids(&["f7", "f3", "f2", "f1"])),
        ("digest m2", EventQuery { digest: Some(m2.clone()), ..q() }, ids(&["f8", "f4"])),
        ("digest l1", EventQuery { digest: Some(l1.clone()), ..q() }, ids(&["f5"])),
        ("action push", EventQuery { action: Some(Action::Push), ..q() }, ids(&["f5", "f4", "f1"])),
        ("action pull", EventQuery { action: Some(Action::Pull), ..q() }, ids(&["f3", "f2"])),
        ("action delete", EventQuery { action: Some(Action::Delete), ..q() }, ids(&["f8", "f6"])),
        ("action mount", EventQuery { action: Some(Action::Mount), ..q() }, ids(&[])),
        ("action replicate", EventQuery { action: Some(Action::from("replicate")), ..q() }, ids(&["f7"])),
        ("action never-seen", EventQuery { action: Some(Action::from("never-seen")), ..q() }, ids(&[])),
        ("actor alice", EventQuery { actor: some("alice"), ..q() }, ids(&["f5", "f4", "f1"])),
        ("actor bob", EventQuery { actor: some("bob"), ..q() }, ids(&["f7", "f2"])),
        ("actor carol", EventQuery { actor: some("carol"), ..q() }, ids(&["f6"])),
        (
            "client 10.0.0.1",
            EventQuery { client_ip: some("10.0.0.1"), ..q() },
            ids(&["f8", "f5", "f4", "f1"]),
        ),
        ("client 2001:db8::1", EventQuery { client_ip: some("2001:db8::1"), ..q() }, ids(&["f3"])),
        ("client with port", EventQuery { client_ip: some("10.0.0.1:5000"), ..q() }, ids(&[])),
        ("since 12", EventQuery { since: Some(time(12)), ..q() }, ids(&["f8", "f7", "f6", "f5", "f4", "f3"])),
        ("until 12", EventQuery { until: Some(time(12)), ..q() }, ids(&["f2", "f1"])),
        (
            "since 12 until 14",
            EventQuery { since: Some(time(12)), until: Some(time(14)), ..q() },
            ids(&["f5", "f4", "f3"]),
        ),
        ("since 12 until 12", EventQuery { since: Some(time(12)), until: Some(time(12)), ..q() }, ids(&[])),
        (
            "since 1µs after 12",
            EventQuery { since: Some(time_micros(12_000_001)), ..q() },
            ids(&["f8", "f7", "f6", "f5"]),
        ),
        (
            "registry r1, repository team/app, action pull",
            EventQuery {
                registry: some("r1.test"),
                repository: Some(name("team/app")),
                action: Some(Action::Pull),
                ..q()
            },
            ids(&["f3", "f2"]),
        ),
        (
            "actor alice, registry r2",
            EventQuery { actor: some("alice"), registry: some("r2.test"), ..q() },
            ids(&["f5", "f4"]),
        ),
        (
            "tag 1.0, digest m1",
            EventQuery { tag: Some(tag("1.0")), digest: Some(m1.clone()), ..q() },
            ids(&["f2", "f1"]),
        ),
        (
            "action delete, since 15",
            EventQuery { action: Some(Action::Delete), since: Some(time(15)), ..q() },
            ids(&["f8"]),
        ),
        (
            "client 10.0.0.2, actor bob, until 15",
            EventQuery { client_ip: some("10.0.0.2"), actor: some("bob"), until: Some(time(15)), ..q() },
            ids(&["f2"]),
        ),
        (
            "actor alice, action pull",
            EventQuery { actor: some("alice"), action: Some(Action::Pull), ..q() },
            ids(&[]),
        ),
    ];
    for (what, query, expected) in cases {
        assert_eq!(log_ids(store, query).await, expected, "events, {what}");
    }
}

/// The log is newest first; events of the same microsecond come by event id descending, in
/// byte order (`event_c` > `event-a` > `event-Z` > `event-B`, which a locale's collation would
/// order otherwise), and pages cut through such ties
/// without losing or repeating events. Tag history and the current tag follow the same order.
pub async fn events_are_newest_first_with_ties_broken_by_id_descending(store: &dyn Storage) {
    let push = |id: &str, at, n: u32, t: &str| {
        EventBuilder::push(id, at, "team/app").manifest(&test_digest(n), 400).tag(t)
    };
    let events = [
        push("event-Z", time(50), 4, "tie"),
        push("event-z-older", time(49), 9, "other"),
        push("event-a", time(50), 2, "tie"),
        push("event-0-newer", time(51), 8, "other"),
        push("event-B", time(50), 1, "tie"),
        push("event-A-plus1us", time_micros(50_000_001), 7, "other"),
        push("event_c", time(50), 3, "tie"),
    ];
    apply_all(store, &events, &Policy::default()).await;
    let expected = ids(&[
        "event-0-newer",
        "event-A-plus1us",
        "event_c",
        "event-a",
        "event-Z",
        "event-B",
        "event-z-older",
    ]);
    for limit in [1, 2, 3] {
        let listing = read_pages("events", limit, async |p| {
            store.events(&EventQuery { page: p, ..EventQuery::default() }).await
        })
        .await;
        let got: Vec<String> = listing.items.into_iter().map(|e| e.id).collect();
        assert_eq!(got, expected, "events read with limit {limit}");
    }
    let app = repo(DEFAULT_HOST, "team/app");
    let history: Vec<String> = history_of(store, &app, "tie").await.into_iter().map(|e| e.event_id).collect();
    assert_eq!(history, ids(&["event_c", "event-a", "event-Z", "event-B"]), "history of tie");
    let tags = tags_of(store, &app).await;
    let tie = tags.iter().find(|t| t.tag.as_str() == "tie").expect("tag tie is live");
    assert_eq!(tie.digest, test_digest(3), "tie points at what event_c pushed");
}

/// An action this version does not model is logged as received (and filterable by its name)
/// but changes no projection: no repository, tag, digest or inventory entry appears.
pub async fn unknown_actions_are_logged_and_filterable_but_project_nothing(store: &dyn Storage) {
    let m1 = test_digest(1);
    let odd = EventBuilder::new("odd-1", "replicate", time(5), "mirror/app")
        .manifest(&m1, 400)
        .tag("1.0")
        .actor("bot")
        .method("POST");
    let bare = EventBuilder::new("odd-2", "purge", time(6), "mirror/app");
    apply_all(store, &[odd.clone(), bare], &Policy::default()).await;

    let log = log_of(store, EventQuery::default()).await;
    assert_eq!(log.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["odd-2", "odd-1"], "event log");
    let mut entry = log[1].clone();
    let raw: Value = serde_json::from_str(&std::mem::take(&mut entry.raw)).expect("raw is JSON");
    assert_eq!(raw, odd.to_value(), "raw JSON of the unknown action");
    assert_eq!(
        entry,
        LogEntry {
            id: "odd-1".to_owned(),
            timestamp: time(5),
            action: Action::Other("replicate".to_owned()),
            registry: DEFAULT_HOST.to_owned(),
            repository: name("mirror/app"),
            tag: Some(tag("1.0")),
            digest: Some(m1.clone()),
            media_type: some(OCI_MANIFEST),
            kind: ContentKind::Manifest,
            actor: some("bot"),
            client_ip: some("192.0.2.10"),
            method: some("POST"),
            user_agent: some(DEFAULT_USER_AGENT),
            source_instance: some(DEFAULT_INSTANCE),
            counted: false,
            raw: String::new(),
        },
        "log entry of the unknown action"
    );
    assert_eq!(log[0].action, Action::Other("purge".to_owned()), "action of the bare unknown event");
    assert_eq!(
        log_ids(store, EventQuery { action: Some(Action::from("replicate")), ..EventQuery::default() }).await,
        ids(&["odd-1"]),
        "events by unknown action"
    );
    assert_eq!(
        log_ids(store, EventQuery { action: Some(Action::Push), ..EventQuery::default() }).await,
        ids(&[]),
        "pushes"
    );

    let mirror = repo(DEFAULT_HOST, "mirror/app");
    assert_eq!(repositories_of(store, RepositoryQuery::default()).await, vec![], "repositories");
    assert_eq!(store.repository_stats(&mirror).await.expect("repository_stats"), None, "statistics");
    assert_eq!(tags_of(store, &mirror).await, vec![], "tags");
    assert_eq!(history_of(store, &mirror, "1.0").await, vec![], "tag history");
    assert_eq!(inventory_of(store, None).await, vec![], "inventory");
    assert_eq!(digest_info_opt(store, &m1).await, None, "digest named only by an unknown action");
}
