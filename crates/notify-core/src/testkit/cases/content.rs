//! `digest()`: what is known about content, and where it lives.

use serde_json::json;

use super::{
    check_paging, digest_info, digest_info_opt, inventory_of, log_of, name, repo, repositories_of, some,
    stats_of, tombstone,
};
use crate::command::ContentReference;
use crate::media_type::{DOCKER_SCHEMA2, OCI_CONFIG, OCI_MANIFEST};
use crate::query::{
    DIGEST_PAGE_SIZE, DigestInfo, DigestLocation, EventQuery, Referrer, RepositoryQuery, RepositorySummary,
};
use crate::testkit::builder::{DEFAULT_HOST, EventBuilder, OCI_LAYER, apply_all, test_digest, time};
use crate::{ContentKind, Cursor, Digest, PageRequest, Policy, ReferenceKind, Storage};

const REPO: &str = "team/app";

/// A digest no event named is unknown (`None`), before and after other events are stored.
pub async fn an_unknown_digest_is_none(store: &dyn Storage) {
    let never = test_digest(0xdead);
    assert_eq!(digest_info_opt(store, &never).await, None, "digest in an empty store");
    let sha512: Digest = format!("sha512:{}", "ab".repeat(64)).parse().expect("sha512 digest");
    assert_eq!(digest_info_opt(store, &sha512).await, None, "sha512 digest in an empty store");
    let events = [EventBuilder::push("p", time(1), REPO).manifest(&test_digest(1), 400).tag("v")];
    apply_all(store, &events, &Policy::default()).await;
    assert_eq!(digest_info_opt(store, &never).await, None, "digest no event named");
    assert_eq!(digest_info_opt(store, &sha512).await, None, "sha512 digest no event named");
}

/// A delete of a digest never seen before makes the digest known: kind unknown, no media type,
/// size or first-seen time, one location that is not live, with the delete's tombstone. A push
/// older than the delete, arriving after it, tells what the content is but does not revive it.
pub async fn a_digest_seen_only_in_a_delete_is_unknown_and_tombstoned(store: &dyn Storage) {
    let d = test_digest(7);
    apply_all(
        store,
        &[EventBuilder::delete("del", time(5), REPO).digest(&d).actor("gc")],
        &Policy::default(),
    )
    .await;
    let location = DigestLocation {
        registry: DEFAULT_HOST.to_owned(),
        repository: name(REPO),
        live: false,
        first_seen: None,
        deleted: Some(tombstone(time(5), "del", Some("gc"))),
        tags: vec![],
        pull_count: 0,
        last_pulled: None,
    };
    assert_eq!(
        digest_info(store, d.as_str()).await,
        DigestInfo {
            digest: d.clone(),
            kind: ContentKind::Unknown,
            media_type: None,
            size: None,
            artifact_type: None,
            first_seen: None,
            repositories: vec![location.clone()],
            repositories_next: None,
            references: vec![],
            referenced_by: vec![],
            referenced_by_next: None,
        },
        "digest seen only in a delete"
    );
    let log = log_of(store, EventQuery { digest: Some(d.clone()), ..EventQuery::default() }).await;
    assert_eq!(
        log.iter().map(|e| (e.id.as_str(), e.kind, e.media_type.as_deref())).collect::<Vec<_>>(),
        vec![("del", ContentKind::Unknown, None)],
        "events of the digest"
    );
    // The repository exists from the delete on, empty.
    assert_eq!(
        repositories_of(store, RepositoryQuery::default()).await,
        vec![RepositorySummary {
            registry: DEFAULT_HOST.to_owned(),
            repository: name(REPO),
            tag_count: 0,
            push_count: 0,
            pull_count: 0,
            last_push: None,
            last_pull: None,
            deleted: None,
        }],
        "repositories"
    );
    assert_eq!(stats_of(store, &repo(DEFAULT_HOST, REPO)).await.live_digests, 0, "live digests");

    apply_all(store, &[EventBuilder::push("late-push", time(3), REPO).blob(&d, 64)], &Policy::default())
        .await;
    let info = digest_info(store, d.as_str()).await;
    assert_eq!(
        (info.kind, info.media_type.as_deref(), info.size, info.first_seen),
        (ContentKind::Blob, Some("application/octet-stream"), Some(64), Some(time(3))),
        "what the late push tells"
    );
    assert_eq!(
        info.repositories,
        vec![DigestLocation { first_seen: Some(time(3)), ..location }],
        "the delete still hides the older push"
    );
}

/// What events tell about one digest merges the same in any order: the greatest kind (a
/// manifest by its URL beats a blob push), with it the greatest media type, the greatest size
/// and artifact type, the union of references keyed by (digest, kind) with their declared
/// media type and size merged to the greatest, the earliest time seen.
pub async fn content_facts_merge_to_the_greatest_kind_media_type_and_size(store: &dyn Storage) {
    let (config, layer, layer2) = (test_digest(0x21), test_digest(0x22), test_digest(0x23));
    let sbom = "application/vnd.example.sbom.v1+json";
    let facts = |prefix: &str, d: &Digest| {
        let id = |n: u32| format!("{prefix}{n}");
        vec![
            // No media type, no size: a manifest by its URL only.
            EventBuilder::pull(&id(1), time(10), REPO)
                .digest(d)
                .url(&format!("http://{DEFAULT_HOST}/v2/{REPO}/manifests/{d}")),
            EventBuilder::push(&id(2), time(11), REPO)
                .manifest(d, 420)
                .set(&["target", "artifactType"], json!(sbom))
                .reference(OCI_CONFIG, &config, 50)
                .reference(OCI_LAYER, &layer, 100),
            EventBuilder::push(&id(3), time(12), REPO).blob(d, 420),
            EventBuilder::pull(&id(4), time(13), REPO)
                .manifest(d, 420)
                .media_type(DOCKER_SCHEMA2)
                // The same layer declared again with another type and size: still one
                // reference, whose declared facts merge to the greatest.
                .reference("application/vnd.docker.image.rootfs.diff.tar.gzip", &layer, 150)
                .reference(OCI_LAYER, &layer2, 200),
        ]
    };
    let (x, y) = (test_digest(0x31), test_digest(0x32));
    apply_all(store, &facts("x", &x), &Policy::default()).await;
    let mut reversed = facts("y", &y);
    reversed.reverse();
    apply_all(store, &reversed, &Policy::default()).await;

    let expected = |d: &Digest| DigestInfo {
        digest: d.clone(),
        kind: ContentKind::Manifest,
        media_type: some(OCI_MANIFEST),
        size: Some(420),
        artifact_type: some(sbom),
        first_seen: Some(time(10)),
        repositories: vec![DigestLocation {
            registry: DEFAULT_HOST.to_owned(),
            repository: name(REPO),
            live: true,
            first_seen: Some(time(10)),
            deleted: None,
            tags: vec![],
            pull_count: 2,
            last_pulled: Some(time(13)),
        }],
        repositories_next: None,
        references: vec![
            ContentReference {
                digest: config.clone(),
                kind: ReferenceKind::Config,
                media_type: some(OCI_CONFIG),
                size: 50,
            },
            ContentReference {
                digest: layer.clone(),
                kind: ReferenceKind::Layer,
                media_type: some(OCI_LAYER),
                size: 150,
            },
            ContentReference {
                digest: layer2.clone(),
                kind: ReferenceKind::Layer,
                media_type: some(OCI_LAYER),
                size: 200,
            },
        ],
        referenced_by: vec![],
        referenced_by_next: None,
    };
    assert_eq!(digest_info(store, x.as_str()).await, expected(&x), "facts merged in arrival order");
    assert_eq!(digest_info(store, y.as_str()).await, expected(&y), "facts merged in reverse order");
    // Referrers are listed once the referenced digest is known itself.
    apply_all(store, &[EventBuilder::push("config", time(1), REPO).blob(&config, 50)], &Policy::default())
        .await;
    assert_eq!(
        digest_info(store, config.as_str()).await.referenced_by,
        vec![
            Referrer { digest: x.clone(), kind: ReferenceKind::Config },
            Referrer { digest: y.clone(), kind: ReferenceKind::Config },
        ],
        "referrers of the config"
    );
}

/// A link is live when its latest observation (push, mount, pull) is later than its latest
/// delete, by time then event id, whatever the arrival order.
pub async fn a_link_observed_after_its_delete_is_live_again(store: &dyn Storage) {
    let blob = |n: u32| test_digest(0x40 + n);
    let push =
        |id: &str, seconds: i64, n: u32| EventBuilder::push(id, time(seconds), REPO).blob(&blob(n), 10);
    let pull =
        |id: &str, seconds: i64, n: u32| EventBuilder::pull(id, time(seconds), REPO).blob(&blob(n), 10);
    let delete = |id: &str, seconds: i64, n: u32| {
        EventBuilder::delete(id, time(seconds), REPO).digest(&blob(n)).actor("gc")
    };
    let events = [
        // 1: pushed, deleted, pushed again.
        push("b1-push", 10, 1),
        delete("b1-delete", 20, 1),
        push("b1-again", 30, 1),
        // 2: the delete arrives last; an older pull arrives after it.
        push("b2-push", 10, 2),
        push("b2-again", 30, 2),
        delete("b2-delete", 40, 2),
        pull("b2-pull", 35, 2),
        // 3 and 4: observation and delete at the same microsecond; the greater id wins.
        delete("tie-a", 20, 3),
        push("tie-b", 20, 3),
        push("tie-b2", 20, 4),
        delete("tie-z", 20, 4),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let state = async |n: u32| {
        let location = digest_info(store, blob(n).as_str()).await.repositories.remove(0);
        (location.live, location.deleted, location.first_seen)
    };
    assert_eq!(state(1).await, (true, None, Some(time(10))), "pushed again after its delete");
    assert_eq!(
        state(2).await,
        (false, Some(tombstone(time(40), "b2-delete", Some("gc"))), Some(time(10))),
        "deleted after its last observation"
    );
    assert_eq!(state(3).await, (true, None, Some(time(20))), "observed by a greater id at the delete's time");
    assert_eq!(
        state(4).await,
        (false, Some(tombstone(time(20), "tie-z", Some("gc"))), Some(time(20))),
        "deleted by a greater id at the observation's time"
    );
    assert_eq!(stats_of(store, &repo(DEFAULT_HOST, REPO)).await.live_digests, 2, "live digests");
}

/// The repositories and the referrers of a digest are lists like any other: `digest()` holds
/// the first [`DIGEST_PAGE_SIZE`] of each with a cursor to the rest, and
/// `digest_repositories`/`digest_referrers` page them in order (registries, then names, by
/// bytes; referrers by digest, then kind in the order config, layer, child, subject, so one
/// manifest naming a blob twice is two items). An unknown digest has empty lists.
pub async fn the_repositories_and_referrers_of_a_digest_page_past_the_first_page(store: &dyn Storage) {
    let shared = test_digest(0xb10b);
    let first = DIGEST_PAGE_SIZE as usize;
    let mut events = Vec::new();
    let mut repositories = Vec::new();
    // One more repository than a page: one on a registry that sorts first, the rest on the
    // default one.
    events.push(EventBuilder::push("blob-first", time(1), "zz").host("a.test").blob(&shared, 10));
    repositories.push("a.test/zz".to_owned());
    for i in 0..first as i64 {
        let name = format!("r{i:03}");
        events.push(EventBuilder::push(&format!("blob-{name}"), time(2 + i), &name).blob(&shared, 10));
        repositories.push(format!("{DEFAULT_HOST}/{name}"));
    }
    // A page of manifests referencing it: the first as config and as layer, the rest as a
    // layer, which makes one referrer more than a page; an index adds two more.
    let mut referrers = Vec::new();
    for i in 0..DIGEST_PAGE_SIZE {
        let manifest = test_digest(0x1000 + i);
        let push = EventBuilder::push(&format!("manifest-{i:03}"), time(200 + i64::from(i)), "r000");
        let push = if i == 0 {
            referrers.push((manifest.clone(), ReferenceKind::Config));
            push.manifest(&manifest, 400).image((&shared, 10), &[(&shared, 10)])
        } else {
            push.manifest(&manifest, 400).image((&test_digest(0xc0f), 5), &[(&shared, 10)])
        };
        referrers.push((manifest, ReferenceKind::Layer));
        events.push(push);
    }
    // An index naming it as a manifest and as a blob: the kinds come in their declared order
    // (layer before child), not in their spelling's.
    let odd = test_digest(0x1000 + DIGEST_PAGE_SIZE);
    events.push(
        EventBuilder::push("index-odd", time(500), "r000")
            .index(&odd, 300)
            .child(&shared, 10)
            .reference(OCI_LAYER, &shared, 10),
    );
    referrers.push((odd.clone(), ReferenceKind::Layer));
    referrers.push((odd.clone(), ReferenceKind::Child));
    apply_all(store, &events, &Policy::default()).await;
    let kinds: Vec<ReferenceKind> =
        digest_info(store, odd.as_str()).await.references.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [ReferenceKind::Layer, ReferenceKind::Child], "the index's references, in kind order");

    let info = digest_info(store, shared.as_str()).await;
    let names: Vec<String> =
        info.repositories.iter().map(|l| format!("{}/{}", l.registry, l.repository)).collect();
    assert_eq!(names, repositories[..first], "digest(): the first page of repositories");
    let last = &info.repositories[first - 1];
    assert_eq!(
        info.repositories_next,
        Some(Cursor::from_key(&last.cursor_key())),
        "digest(): repositories go on"
    );
    let rest = store
        .digest_repositories(&shared, &PageRequest { after: info.repositories_next.clone(), limit: 1000 })
        .await
        .expect("repositories after the first page");
    let rest: Vec<String> = rest.items.iter().map(|l| format!("{}/{}", l.registry, l.repository)).collect();
    assert_eq!(rest, repositories[first..], "the repositories after digest()'s page");
    let referred: Vec<(Digest, ReferenceKind)> =
        info.referenced_by.iter().map(|r| (r.digest.clone(), r.kind)).collect();
    assert_eq!(referred, referrers[..first], "digest(): the first page of referrers");
    let rest = store
        .digest_referrers(&shared, &PageRequest { after: info.referenced_by_next.clone(), limit: 1000 })
        .await
        .expect("referrers after the first page");
    assert_eq!(
        rest.items.iter().map(|r| (r.digest.clone(), r.kind)).collect::<Vec<_>>(),
        referrers[first..],
        "the referrers after digest()'s page"
    );
    assert_eq!(rest.next, None, "no referrers after those");

    check_paging(
        "repositories of the shared blob",
        &repositories,
        |l: &DigestLocation| format!("{}/{}", l.registry, l.repository),
        async |p| store.digest_repositories(&shared, &p).await,
    )
    .await;
    check_paging(
        "referrers of the shared blob",
        &referrers,
        |r: &Referrer| (r.digest.clone(), r.kind),
        async |p| store.digest_referrers(&shared, &p).await,
    )
    .await;
    // The other config is referenced by all manifests but the first, and listed although no
    // event named it; a manifest is referenced by nobody.
    let config = store
        .digest_referrers(&test_digest(0xc0f), &PageRequest::first(1000))
        .await
        .expect("referrers of a digest known only as a reference");
    assert_eq!((config.items.len(), config.next), (first - 1, None), "the other config");
    let manifest = digest_info(store, test_digest(0x1000).as_str()).await;
    assert_eq!((manifest.referenced_by, manifest.referenced_by_next), (vec![], None), "a manifest");

    let unknown = test_digest(0xdead);
    for limit in [1, 1000] {
        let page = PageRequest::first(limit);
        let repos =
            store.digest_repositories(&unknown, &page).await.expect("repositories of an unknown digest");
        assert_eq!((repos.items, repos.next), (vec![], None), "repositories of an unknown digest");
        let refs = store.digest_referrers(&unknown, &page).await.expect("referrers of an unknown digest");
        assert_eq!((refs.items, refs.next), (vec![], None), "referrers of an unknown digest");
    }
}

/// An inventory item shows the media type its digest has now: one that a later event raised
/// (the greatest wins) is shown on the tags set before it too, a tag set after it shows it
/// although its own push declared less, and a moved tag shows its new digest's. The same in
/// arrival order and in reverse.
pub async fn inventory_items_show_the_current_media_type_of_their_digest(store: &dyn Storage) {
    // Content is global: each order has digests of its own.
    let events = |prefix: &str, host: &str, d: &Digest, e: &Digest| {
        let id = |n: u32| format!("{prefix}{n}");
        let push = |n: u32, repository: &str, digest: &Digest, tag: &str| {
            EventBuilder::push(&id(n), time(n.into()), repository)
                .host(host)
                .manifest(digest, 400)
                .media_type(DOCKER_SCHEMA2)
                .tag(tag)
        };
        vec![
            push(1, REPO, d, "1.0"),
            EventBuilder::pull(&id(2), time(2), REPO).host(host).manifest(d, 400),
            push(3, REPO, d, "2.0"),
            push(4, "team/other", d, "x"),
            push(5, REPO, e, "1.0"),
        ]
    };
    let (a, b) = ("forward.test", "reverse.test");
    let digests = [(test_digest(0x41), test_digest(0x42)), (test_digest(0x43), test_digest(0x44))];
    apply_all(store, &events("f", a, &digests[0].0, &digests[0].1), &Policy::default()).await;
    let mut reversed = events("r", b, &digests[1].0, &digests[1].1);
    reversed.reverse();
    apply_all(store, &reversed, &Policy::default()).await;
    for (host, (d, e)) in [a, b].into_iter().zip(digests) {
        let items: Vec<_> = inventory_of(store, Some(host))
            .await
            .into_iter()
            .map(|i| (i.repository.to_string(), i.tag.to_string(), i.digest, i.media_type))
            .collect();
        assert_eq!(
            items,
            vec![
                (REPO.to_owned(), "1.0".to_owned(), e.clone(), some(DOCKER_SCHEMA2)),
                (REPO.to_owned(), "2.0".to_owned(), d.clone(), some(OCI_MANIFEST)),
                ("team/other".to_owned(), "x".to_owned(), d.clone(), some(OCI_MANIFEST)),
            ],
            "inventory of {host}"
        );
    }
}
