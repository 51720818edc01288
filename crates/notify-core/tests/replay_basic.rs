//! Acceptance: the webhook bodies a real registry 2.8 sent while a user pushed, copied, pulled,
//! retagged and deleted images (`shared/fixtures/registry-2.8/basic`) rebuild, step by step,
//! what happened on the registry.
//!
//! Each step replays the next fixture files into a `MemoryStore` the way the server receives
//! them, then states what a user asking the store must see. The expected values come from
//! reading the fixture files.

use notify_core::media_type::OCI_INDEX;
use notify_core::query::{EventQuery, InventoryItem, Referrer, TagHistoryEntry, Tombstone};
use notify_core::testkit::fixtures::{BASIC, ReplayReport, replay_bodies, scenario_dir, scenario_files};
use notify_core::{
    Action, ContentKind, Digest, MemoryStore, PageRequest, Policy, ReferenceKind, RepoRef, Storage, Tag,
    Timestamp,
};

const REGISTRY: &str = "127.0.0.1:5055";
const LAYER_A: &str = "sha256:9658c7ed61c5454aa7b8e98e97b79868df635711ba120a5392ad79a7f7b107b9";
const CONFIG_A: &str = "sha256:35f7bf4c741582bddb0d8cc1c9623b273ba5597bdf84ee2f12834f011934a979";
const MANIFEST_A: &str = "sha256:fc89dc8ad677564498bb3aacb8156776c6f11fac283361a99a9cd8137b66249d";
const MANIFEST_AMD64: &str = "sha256:89279b73e617c031ad5f6d3d4ca99a53c641a9367d798d4e73cc5529b59c94b6";
const MANIFEST_ARM64: &str = "sha256:446a3f1d7c80adb61a632141fb2f0f97a3d841627ed8ddeb3a758c7ebfee792f";
const INDEX: &str = "sha256:535b9327fe714bd0727fcba8c3716824e7096894c9f1777f1be2ff8d92a66c08";

fn digest(s: &str) -> Digest {
    s.parse().expect("digest")
}

fn tag(s: &str) -> Tag {
    s.parse().expect("tag")
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn repo(name: &str) -> RepoRef {
    RepoRef { registry: REGISTRY.to_owned(), repository: name.parse().expect("repository") }
}

/// The store and how far into the scenario it has been fed.
struct Scenario {
    store: MemoryStore,
    files: Vec<std::path::PathBuf>,
    done: usize,
}

impl Scenario {
    fn new() -> Self {
        let files = scenario_files(&scenario_dir(BASIC));
        assert_eq!(files.len(), 35, "registry-2.8/basic has 35 bodies");
        Scenario { store: MemoryStore::new(), files, done: 0 }
    }

    /// Replays the bodies after the last replayed one up to file number `last` (1-based).
    async fn through(&mut self, last: usize) {
        let bodies: Vec<(String, Vec<u8>)> = self.files[self.done..last]
            .iter()
            .map(|f| (f.display().to_string(), std::fs::read(f).expect("fixture file")))
            .collect();
        let report = replay_bodies(&self.store, &bodies, &Policy::default()).await;
        assert_eq!(report, ReplayReport { applied: last - self.done, duplicates: 0, quarantined: 0 });
        self.done = last;
    }

    /// `tag → digest` of the live tags of a repository.
    async fn tags(&self, repository: &str) -> Vec<(String, String)> {
        let page = self.store.tags(&repo(repository), &PageRequest::default()).await.expect("tags");
        assert!(page.next.is_none());
        page.items.into_iter().map(|t| (t.tag.to_string(), t.digest.to_string())).collect()
    }

    async fn counts(&self, repository: &str) -> (u64, u64) {
        let stats =
            self.store.repository_stats(&repo(repository)).await.expect("stats").expect("known repository");
        (stats.push_count, stats.pull_count)
    }

    async fn history(&self, repository: &str, t: &str) -> Vec<TagHistoryEntry> {
        let page = self
            .store
            .tag_history(&repo(repository), &tag(t), &PageRequest::default())
            .await
            .expect("history");
        page.items
    }
}

fn tags(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(t, d)| (t.to_string(), d.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_registry_2_8_basic_rebuilds_what_happened_on_the_registry() {
    let mut s = Scenario::new();
    let alpine = "library/alpine-test";

    // 1. skopeo pushes library/alpine-test:1.0: a layer, a config (blob pushes, not counted),
    //    then the manifest by tag (counted). Its two HEAD checks (004, 005) are not pulls that
    //    count.
    s.through(5).await;
    assert_eq!(s.tags(alpine).await, tags(&[("1.0", MANIFEST_A)]));
    assert_eq!(s.counts(alpine).await, (1, 0));
    let manifest = s.store.digest(&digest(MANIFEST_A)).await.unwrap().unwrap();
    assert_eq!(manifest.kind, ContentKind::Manifest);
    let refs: Vec<(String, ReferenceKind)> =
        manifest.references.iter().map(|r| (r.digest.to_string(), r.kind)).collect();
    assert_eq!(
        refs,
        vec![(CONFIG_A.to_owned(), ReferenceKind::Config), (LAYER_A.to_owned(), ReferenceKind::Layer)]
    );

    // 2. The same image is pushed as latest: a second tag on the same digest, a second push.
    s.through(6).await;
    assert_eq!(s.tags(alpine).await, tags(&[("1.0", MANIFEST_A), ("latest", MANIFEST_A)]));
    assert_eq!(s.counts(alpine).await, (2, 0));

    // 3. Copy to team/app: the manifest GET counts as a pull of alpine-test; the layer is
    //    mounted from alpine-test instead of uploaded; config and manifest are pushed.
    s.through(12).await;
    assert_eq!(s.counts(alpine).await, (2, 1));
    assert_eq!(s.tags("team/app").await, tags(&[("1.0", MANIFEST_A)]));
    let layer = s.store.digest(&digest(LAYER_A)).await.unwrap().unwrap();
    let homes: Vec<(String, bool, Option<Timestamp>)> =
        layer.repositories.iter().map(|l| (l.repository.to_string(), l.live, l.first_seen)).collect();
    assert_eq!(
        homes,
        vec![
            (alpine.to_owned(), true, Some(at("2026-11-22T20:55:53.134282Z"))),
            ("team/app".to_owned(), true, Some(at("2026-11-22T20:55:56.262014Z"))),
        ]
    );
    let mounts = s
        .store
        .events(&EventQuery { action: Some(Action::Mount), ..EventQuery::default() })
        .await
        .unwrap()
        .items;
    assert_eq!(mounts.len(), 1);
    let raw: serde_json::Value = serde_json::from_str(&mounts[0].raw).unwrap();
    assert_eq!(raw["target"]["fromRepository"], "library/alpine-test");

    // 4. team/app:1.0 is pulled: one counted manifest GET, two blob GETs that do not count.
    s.through(15).await;
    assert_eq!(s.counts("team/app").await, (1, 1));

    // 5. A multi-arch index is pushed as library/multi:2.0 after its two children. The children
    //    are pushed by digest: they become content of the repository but are not counted as
    //    pushes, since only a push by tag is something a person did to the repository.
    s.through(22).await;
    assert_eq!(s.tags("library/multi").await, tags(&[("2.0", INDEX)]));
    assert_eq!(s.counts("library/multi").await, (1, 0));
    let index = s.store.digest(&digest(INDEX)).await.unwrap().unwrap();
    assert_eq!((index.kind, index.media_type.as_deref()), (ContentKind::Index, Some(OCI_INDEX)));
    let children: Vec<(String, ReferenceKind)> =
        index.references.iter().map(|r| (r.digest.to_string(), r.kind)).collect();
    assert_eq!(
        children,
        vec![
            (MANIFEST_ARM64.to_owned(), ReferenceKind::Child),
            (MANIFEST_AMD64.to_owned(), ReferenceKind::Child)
        ]
    );
    for child in [MANIFEST_ARM64, MANIFEST_AMD64] {
        let child = s.store.digest(&digest(child)).await.unwrap().unwrap();
        assert_eq!(child.referenced_by, vec![Referrer { digest: digest(INDEX), kind: ReferenceKind::Child }]);
    }

    // 6. curl checks 1.0 with HEAD (logged, not counted), GETs it by tag and by digest (both
    //    counted; only the first counts for the tag).
    s.through(25).await;
    assert_eq!(s.counts(alpine).await, (2, 3));
    let before_01 = EventQuery { until: Some(at("2026-11-22T20:56:01Z")), ..EventQuery::default() };
    let head = s.store.events(&before_01).await.unwrap().items.remove(0);
    assert_eq!((head.method.as_deref(), head.counted), (Some("HEAD"), false));
    let one = s.store.tags(&repo(alpine), &PageRequest::default()).await.unwrap().items.remove(0);
    assert_eq!((one.tag.as_str(), one.pull_count), ("1.0", 2));

    // 7. Another image (the amd64 child of the index, its layer mounted from library/multi) is
    //    pushed as latest: the tag moves, and its history says from what.
    s.through(32).await;
    assert_eq!(s.tags(alpine).await, tags(&[("1.0", MANIFEST_A), ("latest", MANIFEST_AMD64)]));
    let latest = s.history(alpine, "latest").await;
    let moves: Vec<(Timestamp, Option<Digest>, Option<Digest>)> =
        latest.iter().map(|e| (e.at, e.digest.clone(), e.previous.clone())).collect();
    assert_eq!(
        moves,
        vec![
            (at("2026-11-22T20:56:05.539851Z"), Some(digest(MANIFEST_AMD64)), Some(digest(MANIFEST_A))),
            (at("2026-11-22T20:55:54.720073Z"), Some(digest(MANIFEST_A)), None),
        ]
    );

    // 8. The manifest of 1.0 is deleted by digest: 1.0 disappears at once, before the
    //    registry's own tag delete arrives; that delete is then the newest history entry.
    s.through(33).await;
    assert_eq!(s.tags(alpine).await, tags(&[("latest", MANIFEST_AMD64)]));
    s.through(34).await;
    assert_eq!(s.tags(alpine).await, tags(&[("latest", MANIFEST_AMD64)]));
    let one = s.history(alpine, "1.0").await;
    assert_eq!(
        one[0],
        TagHistoryEntry {
            at: at("2026-11-22T20:56:07.062490Z"),
            event_id: "695ef8aa-fb61-470b-a555-d8bb41218921".to_owned(),
            actor: None,
            digest: None,
            previous: Some(digest(MANIFEST_A)),
        }
    );
    let manifest = s.store.digest(&digest(MANIFEST_A)).await.unwrap().unwrap();
    let where_: Vec<(String, bool)> =
        manifest.repositories.iter().map(|l| (l.repository.to_string(), l.live)).collect();
    assert_eq!(where_, vec![(alpine.to_owned(), false), ("team/app".to_owned(), true)]);

    // 9. The mounted layer is deleted from team/app: a tombstone there, still live in
    //    alpine-test.
    s.through(35).await;
    let layer = s.store.digest(&digest(LAYER_A)).await.unwrap().unwrap();
    let homes: Vec<(String, bool, Option<Tombstone>)> =
        layer.repositories.iter().map(|l| (l.repository.to_string(), l.live, l.deleted.clone())).collect();
    assert_eq!(
        homes,
        vec![
            (alpine.to_owned(), true, None),
            (
                "team/app".to_owned(),
                false,
                Some(Tombstone {
                    at: at("2026-11-22T20:56:08.729019Z"),
                    event_id: "45d28f92-3e9e-4b91-b541-2134d984fadd".to_owned(),
                    actor: None,
                })
            ),
        ]
    );

    // What is left to migrate.
    let inventory = s.store.inventory(&Default::default()).await.unwrap().items;
    let item = |r: &str, t: &str, d: &str, mt: &str| InventoryItem {
        registry: REGISTRY.to_owned(),
        repository: r.parse().unwrap(),
        tag: tag(t),
        digest: digest(d),
        media_type: Some(mt.to_owned()),
    };
    let manifest_type = "application/vnd.oci.image.manifest.v1+json";
    assert_eq!(
        inventory,
        vec![
            item(alpine, "latest", MANIFEST_AMD64, manifest_type),
            item("library/multi", "2.0", INDEX, OCI_INDEX),
            item("team/app", "1.0", MANIFEST_A, manifest_type),
        ]
    );
}

/// The same scenario through the conformance case that pins every answer of the final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_state_matches_the_conformance_case() {
    let store = MemoryStore::new();
    notify_core::testkit::cases::basic_replay_ends_in_the_state_the_registry_reported(&store).await;
    notify_core::testkit::cases::basic_replay_reports_exact_answers_for_every_digest(&MemoryStore::new())
        .await;
}
