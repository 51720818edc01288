//! What the [`Policy`] counts: every event is logged, only some are counted.

use std::collections::BTreeSet;

use super::{digest_info, log_of, name, repo, some, stats_of, tags_of};
use crate::media_type::OCI_MANIFEST;
use crate::query::{DigestLocation, EventQuery, RepositoryStats, TagSummary};
use crate::testkit::builder::{EventBuilder, apply_all, test_digest, time};
use crate::{ContentKind, Policy, Storage};

const REPO: &str = "team/app";

/// `(id, counted)` of a registry's events, newest first.
async fn counted_flags(store: &dyn Storage, registry: &str) -> Vec<(String, bool)> {
    let query = EventQuery { registry: Some(registry.to_owned()), ..EventQuery::default() };
    log_of(store, query).await.into_iter().map(|e| (e.id, e.counted)).collect()
}

fn flags(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(id, c)| (id.to_string(), *c)).collect()
}

fn fixed(registry: &str) -> Policy {
    Policy { registry: Some(registry.to_owned()), ..Policy::default() }
}

/// `HEAD` requests are existence checks: logged, observed, but counted as pulls only with
/// `count_head_requests`, for the repository, the tag and the digest's location alike.
pub async fn head_pulls_are_logged_but_counted_only_when_the_policy_says(store: &dyn Storage) {
    let m1 = test_digest(1);
    let events = |prefix: &str| {
        let id = |s: &str| format!("{prefix}-{s}");
        [
            EventBuilder::push(&id("push"), time(1), REPO).manifest(&m1, 400).tag("v"),
            EventBuilder::pull(&id("get"), time(2), REPO).manifest(&m1, 400).tag("v"),
            EventBuilder::pull(&id("head-tag"), time(3), REPO).manifest(&m1, 400).tag("v").head(),
            EventBuilder::pull(&id("head-digest"), time(4), REPO).manifest(&m1, 400).head(),
        ]
    };
    apply_all(store, &events("ignored"), &fixed("head-ignored")).await;
    let counting = Policy { count_head_requests: true, ..fixed("head-counted") };
    apply_all(store, &events("counted"), &counting).await;

    assert_eq!(
        counted_flags(store, "head-ignored").await,
        flags(&[
            ("ignored-head-digest", false),
            ("ignored-head-tag", false),
            ("ignored-get", true),
            ("ignored-push", true)
        ]),
        "counted flags under the default policy"
    );
    assert_eq!(
        counted_flags(store, "head-counted").await,
        flags(&[
            ("counted-head-digest", true),
            ("counted-head-tag", true),
            ("counted-get", true),
            ("counted-push", true)
        ]),
        "counted flags with count_head_requests"
    );

    let stats = |registry: &str, pulls: u64, last_pull: i64| RepositoryStats {
        registry: registry.to_owned(),
        repository: name(REPO),
        tag_count: 1,
        live_digests: 1,
        push_count: 1,
        pull_count: pulls,
        first_push: Some(time(1)),
        last_push: Some(time(1)),
        first_pull: Some(time(2)),
        last_pull: Some(time(last_pull)),
        pushers: vec![],
        pullers: vec![],
        deleted: None,
    };
    assert_eq!(
        stats_of(store, &repo("head-ignored", REPO)).await,
        stats("head-ignored", 1, 2),
        "default policy"
    );
    assert_eq!(
        stats_of(store, &repo("head-counted", REPO)).await,
        stats("head-counted", 3, 4),
        "counting HEAD"
    );

    let tag = |pulls: u64, last: i64| TagSummary {
        tag: "v".parse().expect("tag"),
        digest: m1.clone(),
        kind: ContentKind::Manifest,
        media_type: some(OCI_MANIFEST),
        pushed_at: time(1),
        pushed_by: None,
        push_count: 1,
        pull_count: pulls,
        last_pulled: Some(time(last)),
    };
    assert_eq!(tags_of(store, &repo("head-ignored", REPO)).await, vec![tag(1, 2)], "tag, default policy");
    assert_eq!(tags_of(store, &repo("head-counted", REPO)).await, vec![tag(2, 3)], "tag, counting HEAD");

    let location = |registry: &str, pulls: u64, last: i64| DigestLocation {
        registry: registry.to_owned(),
        repository: name(REPO),
        live: true,
        first_seen: Some(time(1)),
        deleted: None,
        tags: vec!["v".parse().expect("tag")],
        pull_count: pulls,
        last_pulled: Some(time(last)),
    };
    assert_eq!(
        digest_info(store, m1.as_str()).await.repositories,
        vec![location("head-counted", 3, 4), location("head-ignored", 1, 2)],
        "locations of the manifest"
    );
}

/// Blob downloads are logged but counted as pulls only with `count_blob_pulls` (and blob
/// `HEAD`s only with `count_head_requests` too); blob pushes are never counted.
pub async fn blob_pulls_are_logged_but_counted_only_when_the_policy_says(store: &dyn Storage) {
    let l1 = test_digest(0x11);
    let events = |prefix: &str| {
        let id = |s: &str| format!("{prefix}-{s}");
        [
            EventBuilder::push(&id("push"), time(1), REPO).blob(&l1, 1000),
            EventBuilder::pull(&id("get"), time(2), REPO).blob(&l1, 1000),
            EventBuilder::pull(&id("head"), time(3), REPO).blob(&l1, 1000).head(),
        ]
    };
    apply_all(store, &events("a"), &fixed("blobs-ignored")).await;
    apply_all(store, &events("b"), &Policy { count_blob_pulls: true, ..fixed("blobs-counted") }).await;
    let everything = Policy { count_blob_pulls: true, count_head_requests: true, ..fixed("all-counted") };
    apply_all(store, &events("c"), &everything).await;

    assert_eq!(
        counted_flags(store, "blobs-ignored").await,
        flags(&[("a-head", false), ("a-get", false), ("a-push", false)]),
        "default policy"
    );
    assert_eq!(
        counted_flags(store, "blobs-counted").await,
        flags(&[("b-head", false), ("b-get", true), ("b-push", false)]),
        "count_blob_pulls"
    );
    assert_eq!(
        counted_flags(store, "all-counted").await,
        flags(&[("c-head", true), ("c-get", true), ("c-push", false)]),
        "count_blob_pulls and count_head_requests"
    );

    let stats = |registry: &str, pulls: u64, last: Option<i64>| RepositoryStats {
        registry: registry.to_owned(),
        repository: name(REPO),
        tag_count: 0,
        live_digests: 1,
        push_count: 0,
        pull_count: pulls,
        first_push: None,
        last_push: None,
        first_pull: last.map(|_| time(2)),
        last_pull: last.map(time),
        pushers: vec![],
        pullers: vec![],
        deleted: None,
    };
    assert_eq!(stats_of(store, &repo("blobs-ignored", REPO)).await, stats("blobs-ignored", 0, None));
    assert_eq!(stats_of(store, &repo("blobs-counted", REPO)).await, stats("blobs-counted", 1, Some(2)));
    assert_eq!(stats_of(store, &repo("all-counted", REPO)).await, stats("all-counted", 2, Some(3)));

    let location = |registry: &str, pulls: u64, last: Option<i64>| DigestLocation {
        registry: registry.to_owned(),
        repository: name(REPO),
        live: true,
        first_seen: Some(time(1)),
        deleted: None,
        tags: vec![],
        pull_count: pulls,
        last_pulled: last.map(time),
    };
    assert_eq!(
        digest_info(store, l1.as_str()).await.repositories,
        vec![
            location("all-counted", 2, Some(3)),
            location("blobs-counted", 1, Some(2)),
            location("blobs-ignored", 0, None),
        ],
        "locations of the blob"
    );
}

/// Pushes and pulls by an ignored actor or with an ignored user-agent prefix are logged with
/// `counted: false` and change no counter, but still set tags; names match exactly, prefixes
/// from the start, and an empty prefix ignores no one.
pub async fn ignored_actors_and_user_agents_are_logged_but_not_counted(store: &dyn Storage) {
    let m1 = test_digest(1);
    let policy = Policy {
        registry: Some("ignoring".to_owned()),
        ignored_actors: BTreeSet::from(["scanner".to_owned()]),
        ignored_user_agents: vec!["trivy/".to_owned(), String::new()],
        ..Policy::default()
    };
    let pull = |id: &str, seconds: i64, actor: &str, agent: &str| {
        EventBuilder::pull(id, time(seconds), REPO).manifest(&m1, 400).tag("v").actor(actor).user_agent(agent)
    };
    let events = [
        EventBuilder::push("i1", time(1), REPO).manifest(&m1, 400).tag("v").actor("scanner"),
        pull("i2", 2, "alice", "trivy/0.57.0"),
        pull("i3", 3, "scanner", "docker/27.3.1"),
        pull("i4", 4, "alice", "docker/27.3.1"),
        pull("i5", 5, "scanner-2", "docker/27.3.1 trivy/0.57.0"),
    ];
    apply_all(store, &events, &policy).await;

    assert_eq!(
        counted_flags(store, "ignoring").await,
        flags(&[("i5", true), ("i4", true), ("i3", false), ("i2", false), ("i1", false)]),
        "counted flags"
    );
    let r = repo("ignoring", REPO);
    assert_eq!(
        stats_of(store, &r).await,
        RepositoryStats {
            registry: "ignoring".to_owned(),
            repository: name(REPO),
            tag_count: 1,
            live_digests: 1,
            push_count: 0,
            pull_count: 2,
            first_push: None,
            last_push: None,
            first_pull: Some(time(4)),
            last_pull: Some(time(5)),
            pushers: vec![],
            pullers: vec!["alice".to_owned(), "scanner-2".to_owned()],
            deleted: None,
        },
        "statistics"
    );
    assert_eq!(
        tags_of(store, &r).await,
        vec![TagSummary {
            tag: "v".parse().expect("tag"),
            digest: m1.clone(),
            kind: ContentKind::Manifest,
            media_type: some(OCI_MANIFEST),
            pushed_at: time(1),
            pushed_by: some("scanner"),
            push_count: 0,
            pull_count: 2,
            last_pulled: Some(time(5)),
        }],
        "the ignored push still set the tag"
    );
}
