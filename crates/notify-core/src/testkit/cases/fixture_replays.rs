//! Replays of the captured fixtures, with the answers worked out from the files by hand.
//!
//! `registry-2.8/basic` (see its README): all events come from `Host: 127.0.0.1:5055`,
//! anonymously, so the registry is `127.0.0.1:5055` and no actor is named. Counted under the
//! default policy: the manifest pushes 003, 006, 012, 018, 021, 022, 032 and the manifest GETs
//! 007, 013, 024, 025, 026, 027; not counted: blob pushes, blob pulls (GET and HEAD), the
//! manifest HEAD 023, mounts and deletes.

use serde_json::Value;

use super::{
    apply_plan, digest, digest_info, history_of, inventory_of, log_ids, log_of, name, repo, repositories_of,
    some, stats_of, tag, tags_of, tombstone, ts,
};
use crate::command::ContentReference;
use crate::media_type::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::query::{
    DigestInfo, DigestLocation, EventQuery, InventoryItem, RepositoryQuery, RepositoryStats,
    RepositorySummary, TagHistoryEntry, TagSummary,
};
use crate::testkit::builder::{EventBuilder, OCI_LAYER, OCTET_STREAM, test_digest, time};
use crate::testkit::fixtures::{
    AUTH, BASIC, REGISTRY3_SHAPE, REPLAY_RECEIVED_AT, ReplayReport, read_events, replay, replay_bodies,
    scenario_dir, scenario_files, scenario_plans,
};
use crate::testkit::snapshot::snapshot;
use crate::{
    Action, ApplyOutcome, ContentKind, LogEntry, MemoryStore, Policy, ReferenceKind, Storage, Timestamp,
};

const REGISTRY: &str = "127.0.0.1:5055";
const ALPINE: &str = "library/alpine-test";
const MULTI: &str = "library/multi";
const TEAM_APP: &str = "team/app";
const INSTANCE: &str = "faff0380-1ee3-43ae-9928-9056a287c21a";

const LAYER_A: &str = "sha256:9658c7ed61c5454aa7b8e98e97b79868df635711ba120a5392ad79a7f7b107b9";
const CONFIG_A: &str = "sha256:35f7bf4c741582bddb0d8cc1c9623b273ba5597bdf84ee2f12834f011934a979";
const MANIFEST_A: &str = "sha256:fc89dc8ad677564498bb3aacb8156776c6f11fac283361a99a9cd8137b66249d";
const LAYER_AMD64: &str = "sha256:058960e75357156f476781da0ba40d247ff303f116180a3903d32006182afda3";
const CONFIG_AMD64: &str = "sha256:a903885606564271a7628290a870463d6897ec81391fce6ec709aa14f88f216a";
const MANIFEST_AMD64: &str = "sha256:89279b73e617c031ad5f6d3d4ca99a53c641a9367d798d4e73cc5529b59c94b6";
const LAYER_ARM64: &str = "sha256:1c94ee0e3ddf4ce13d208cb2b7fb4f5bdbf8354ca6bef149692f693f57430e4e";
const CONFIG_ARM64: &str = "sha256:2bd4aab6e5788a9acd1f04d0ae64e925dc806f83db9d0434a5c66286d427c51b";
const MANIFEST_ARM64: &str = "sha256:446a3f1d7c80adb61a632141fb2f0f97a3d841627ed8ddeb3a758c7ebfee792f";
const INDEX: &str = "sha256:535b9327fe714bd0727fcba8c3716824e7096894c9f1777f1be2ff8d92a66c08";

/// The ids of `basic/001` to `basic/035`, in file order (which is also time order).
const BASIC_IDS: [&str; 35] = [
    "bb1332f2-5f7b-4835-b5e0-bd466908be3a",
    "97986578-1b4b-4d49-9f61-36a442fb2a22",
    "18e77680-a2dc-4d11-ac11-f5173673ea7d",
    "2c84dc9e-4d38-40a1-8bb8-349593247137",
    "555ff5c0-34a1-4ed0-960e-4bec7d70dedc",
    "baeb9bff-12cb-4e9b-8d98-696d0b18bf47",
    "27b702db-0802-43a6-9a74-b926d338cfe8",
    "fcd98339-8119-4374-b8b0-8fdddcb55799",
    "b77f0d14-4793-4ca6-9bab-8dcf6040e4e3",
    "95a45f27-2ba0-48db-8a9b-bc7c4d3c343a",
    "8bb45500-7976-47e0-b936-bb5d6de474a4",
    "c47ccfc9-5eac-4aee-8d3e-af7e717afc44",
    "c9f5b4ca-695d-47a4-84cd-3086abb1331f",
    "7eb3073f-782f-43cc-9ea9-64f83341ebe3",
    "59e57b51-6fb4-4842-94d1-bbf98251bec3",
    "b7222b70-ba97-404a-aeec-256a6bbf6d67",
    "9e0ee73f-9ea0-4474-b77a-722875ba120b",
    "c40a2b0f-81cb-407a-915e-36aed0d48473",
    "8642287f-11dc-4f91-90d4-a56cf6991963",
    "f520b8d9-fbc6-431d-88ff-02b76ecc153c",
    "ca6c417e-6dd3-400b-bb68-efbcf84b3c34",
    "0850d112-b9fa-4f42-a03b-aaf86a70b19b",
    "4629cb60-ce47-49d4-bd70-16791e48352a",
    "e959843e-067e-4df5-b3e3-270c7087e31a",
    "208be78b-c164-4ce9-968e-b32eb95d4aea",
    "b2618e36-0056-4ccc-b746-8d396087ec09",
    "cbf41364-b465-4d79-a991-59262eecf137",
    "4ff9516a-cdaf-4fd5-acf5-a1c2dcc2dd9d",
    "c9d8e22f-505e-47da-84d4-b687d270fa96",
    "eac09759-8a22-402e-a951-9db4c7312c93",
    "0d22d48b-8f10-42c2-a3f4-24aee83810f7",
    "a46611a7-6e22-40d6-9cc5-33288d8a2547",
    "e29366d9-7fbd-4838-a72f-e8759ea753ee",
    "695ef8aa-fb61-470b-a555-d8bb41218921",
    "45d28f92-3e9e-4b91-b541-2134d984fadd",
];

/// The file numbers (1-based) of the events counted under the default policy.
const BASIC_COUNTED: [usize; 11] = [3, 6, 7, 12, 13, 22, 24, 25, 26, 27, 32];

fn basic_id(file: usize) -> &'static str {
    BASIC_IDS[file - 1]
}

async fn replay_scenario(store: &dyn Storage, scenario: &str) -> ReplayReport {
    replay(store, &scenario_dir(scenario), &Policy::default()).await
}

/// The repositories, tags, tag histories, inventory and statistics `basic` leaves behind.
async fn assert_basic_repositories(store: &dyn Storage) {
    let alpine = repo(REGISTRY, ALPINE);
    let multi = repo(REGISTRY, MULTI);
    let team_app = repo(REGISTRY, TEAM_APP);
    let summary = |r: &str, push: u64, pull: u64, last_push: &str, last_pull: &str| RepositorySummary {
        registry: REGISTRY.to_owned(),
        repository: name(r),
        tag_count: 1,
        push_count: push,
        pull_count: pull,
        last_push: Some(ts(last_push)),
        last_pull: Some(ts(last_pull)),
        deleted: None,
    };
    assert_eq!(
        repositories_of(store, RepositoryQuery::default()).await,
        vec![
            summary(ALPINE, 3, 3, "2026-11-22T20:56:05.539851Z", "2026-11-22T20:56:03.973577Z"),
            summary(MULTI, 1, 2, "2026-11-22T20:55:59.429820Z", "2026-11-22T20:56:05.503565Z"),
            summary(TEAM_APP, 1, 1, "2026-11-22T20:55:56.284463Z", "2026-11-22T20:55:57.807853Z"),
        ],
        "repositories after basic"
    );

    // The retag (032) moved latest to the amd64 image; 1.0 was deleted (033, 034).
    assert_eq!(
        tags_of(store, &alpine).await,
        vec![TagSummary {
            tag: tag("latest"),
            digest: digest(MANIFEST_AMD64),
            kind: ContentKind::Manifest,
            media_type: some(OCI_MANIFEST),
            pushed_at: ts("2026-11-22T20:56:05.539851Z"),
            pushed_by: None,
            push_count: 2,
            pull_count: 0,
            last_pulled: None,
        }],
        "tags of {ALPINE}"
    );
    assert_eq!(
        tags_of(store, &multi).await,
        vec![TagSummary {
            tag: tag("2.0"),
            digest: digest(INDEX),
            kind: ContentKind::Index,
            media_type: some(OCI_INDEX),
            pushed_at: ts("2026-11-22T20:55:59.429820Z"),
            pushed_by: None,
            push_count: 1,
            pull_count: 1,
            last_pulled: Some(ts("2026-11-22T20:56:05.501491Z")),
        }],
        "tags of {MULTI}"
    );
    assert_eq!(
        tags_of(store, &team_app).await,
        vec![TagSummary {
            tag: tag("1.0"),
            digest: digest(MANIFEST_A),
            kind: ContentKind::Manifest,
            media_type: some(OCI_MANIFEST),
            pushed_at: ts("2026-11-22T20:55:56.284463Z"),
            pushed_by: None,
            push_count: 1,
            pull_count: 1,
            last_pulled: Some(ts("2026-11-22T20:55:57.807853Z")),
        }],
        "tags of {TEAM_APP}"
    );

    let entry = |at: &str, file: usize, digest_now: Option<&str>, previous: Option<&str>| TagHistoryEntry {
        at: ts(at),
        event_id: basic_id(file).to_owned(),
        actor: None,
        digest: digest_now.map(digest),
        previous: previous.map(digest),
    };
    assert_eq!(
        history_of(store, &alpine, "1.0").await,
        vec![
            entry("2026-11-22T20:56:07.062490Z", 34, None, Some(MANIFEST_A)),
            entry("2026-11-22T20:55:53.187623Z", 3, Some(MANIFEST_A), None),
        ],
        "history of {ALPINE}:1.0"
    );
    assert_eq!(
        history_of(store, &alpine, "latest").await,
        vec![
            entry("2026-11-22T20:56:05.539851Z", 32, Some(MANIFEST_AMD64), Some(MANIFEST_A)),
            entry("2026-11-22T20:55:54.720073Z", 6, Some(MANIFEST_A), None),
        ],
        "history of {ALPINE}:latest"
    );
    assert_eq!(
        history_of(store, &team_app, "1.0").await,
        vec![entry("2026-11-22T20:55:56.284463Z", 12, Some(MANIFEST_A), None)],
        "history of {TEAM_APP}:1.0"
    );
    assert_eq!(
        history_of(store, &multi, "2.0").await,
        vec![entry("2026-11-22T20:55:59.429820Z", 22, Some(INDEX), None)],
        "history of {MULTI}:2.0"
    );
    assert_eq!(history_of(store, &multi, "never-pushed").await, vec![], "history of a tag never seen");

    let item = |r: &str, t: &str, d: &str, mt: &str| InventoryItem {
        registry: REGISTRY.to_owned(),
        repository: name(r),
        tag: tag(t),
        digest: digest(d),
        media_type: some(mt),
    };
    let inventory = vec![
        item(ALPINE, "latest", MANIFEST_AMD64, OCI_MANIFEST),
        item(MULTI, "2.0", INDEX, OCI_INDEX),
        item(TEAM_APP, "1.0", MANIFEST_A, OCI_MANIFEST),
    ];
    assert_eq!(inventory_of(store, None).await, inventory, "inventory");
    assert_eq!(inventory_of(store, Some(REGISTRY)).await, inventory, "inventory of {REGISTRY}");
    assert_eq!(inventory_of(store, Some("127.0.0.1:5056")).await, vec![], "inventory of another registry");

    let stats = |r: &str| RepositoryStats {
        registry: REGISTRY.to_owned(),
        repository: name(r),
        tag_count: 1,
        live_digests: 0,
        push_count: 0,
        pull_count: 0,
        first_push: None,
        last_push: None,
        first_pull: None,
        last_pull: None,
        pushers: vec![],
        pullers: vec![],
        deleted: None,
    };
    assert_eq!(
        stats_of(store, &alpine).await,
        RepositoryStats {
            // Layer and config A, the amd64 layer (mounted, 029), config (031) and manifest
            // (032); manifest A was deleted (033).
            live_digests: 5,
            push_count: 3,
            pull_count: 3,
            first_push: Some(ts("2026-11-22T20:55:53.187623Z")),
            last_push: Some(ts("2026-11-22T20:56:05.539851Z")),
            first_pull: Some(ts("2026-11-22T20:55:56.245162Z")),
            last_pull: Some(ts("2026-11-22T20:56:03.973577Z")),
            ..stats(ALPINE)
        },
        "statistics of {ALPINE}"
    );
    assert_eq!(
        stats_of(store, &multi).await,
        RepositoryStats {
            live_digests: 7,
            // The children pushed by digest (018, 021) are parts of the one push by tag (022).
            push_count: 1,
            pull_count: 2,
            first_push: Some(ts("2026-11-22T20:55:59.429820Z")),
            last_push: Some(ts("2026-11-22T20:55:59.429820Z")),
            first_pull: Some(ts("2026-11-22T20:56:05.501491Z")),
            last_pull: Some(ts("2026-11-22T20:56:05.503565Z")),
            ..stats(MULTI)
        },
        "statistics of {MULTI}"
    );
    assert_eq!(
        stats_of(store, &team_app).await,
        RepositoryStats {
            // Config A and manifest A; layer A was mounted (009) and deleted (035).
            live_digests: 2,
            push_count: 1,
            pull_count: 1,
            first_push: Some(ts("2026-11-22T20:55:56.284463Z")),
            last_push: Some(ts("2026-11-22T20:55:56.284463Z")),
            first_pull: Some(ts("2026-11-22T20:55:57.807853Z")),
            last_pull: Some(ts("2026-11-22T20:55:57.807853Z")),
            ..stats(TEAM_APP)
        },
        "statistics of {TEAM_APP}"
    );
    let unknown = store.repository_stats(&repo(REGISTRY, "library/never")).await.expect("repository_stats");
    assert_eq!(unknown, None, "statistics of a repository no event named");
}

fn location(repository: &str, first_seen: &str) -> DigestLocation {
    DigestLocation {
        registry: REGISTRY.to_owned(),
        repository: name(repository),
        live: true,
        first_seen: Some(ts(first_seen)),
        deleted: None,
        tags: vec![],
        pull_count: 0,
        last_pulled: None,
    }
}

fn reference(d: &str, kind: ReferenceKind, media_type: &str, size: u64) -> ContentReference {
    ContentReference { digest: digest(d), kind, media_type: some(media_type), size }
}

fn referrer(d: &str, kind: ReferenceKind) -> crate::query::Referrer {
    crate::query::Referrer { digest: digest(d), kind }
}

fn blob_info(d: &str, size: u64, first_seen: &str) -> DigestInfo {
    DigestInfo {
        digest: digest(d),
        kind: ContentKind::Blob,
        media_type: some(OCTET_STREAM),
        size: Some(size),
        artifact_type: None,
        first_seen: Some(ts(first_seen)),
        repositories: vec![],
        repositories_next: None,
        references: vec![],
        referenced_by: vec![],
        referenced_by_next: None,
    }
}

/// `digest()` of every digest `basic` names.
async fn assert_basic_digests(store: &dyn Storage) {
    use ReferenceKind::{Child, Config, Layer};

    // Layer A: pushed to alpine-test, mounted into team/app (009) and deleted there (035).
    assert_eq!(
        digest_info(store, LAYER_A).await,
        DigestInfo {
            repositories: vec![
                location(ALPINE, "2026-11-22T20:55:53.134282Z"),
                DigestLocation {
                    live: false,
                    deleted: Some(tombstone(ts("2026-11-22T20:56:08.729019Z"), basic_id(35), None)),
                    ..location(TEAM_APP, "2026-11-22T20:55:56.262014Z")
                },
            ],
            referenced_by: vec![referrer(MANIFEST_A, Layer)],
            referenced_by_next: None,
            ..blob_info(LAYER_A, 122, "2026-11-22T20:55:53.134282Z")
        },
        "digest {LAYER_A} (layer A)"
    );
    assert_eq!(
        digest_info(store, CONFIG_A).await,
        DigestInfo {
            repositories: vec![
                location(ALPINE, "2026-11-22T20:55:53.179635Z"),
                location(TEAM_APP, "2026-11-22T20:55:56.279499Z"),
            ],
            referenced_by: vec![referrer(MANIFEST_A, Config)],
            referenced_by_next: None,
            ..blob_info(CONFIG_A, 190, "2026-11-22T20:55:53.179635Z")
        },
        "digest {CONFIG_A} (config A)"
    );
    // Manifest A: deleted by digest in alpine-test (033) after three counted GETs there,
    // still tagged 1.0 in team/app.
    assert_eq!(
        digest_info(store, MANIFEST_A).await,
        DigestInfo {
            digest: digest(MANIFEST_A),
            kind: ContentKind::Manifest,
            media_type: some(OCI_MANIFEST),
            size: Some(418),
            artifact_type: None,
            first_seen: Some(ts("2026-11-22T20:55:53.187623Z")),
            repositories: vec![
                DigestLocation {
                    live: false,
                    deleted: Some(tombstone(ts("2026-11-22T20:56:07.061228Z"), basic_id(33), None)),
                    pull_count: 3,
                    last_pulled: Some(ts("2026-11-22T20:56:03.973577Z")),
                    ..location(ALPINE, "2026-11-22T20:55:53.187623Z")
                },
                DigestLocation {
                    tags: vec![tag("1.0")],
                    pull_count: 1,
                    last_pulled: Some(ts("2026-11-22T20:55:57.807853Z")),
                    ..location(TEAM_APP, "2026-11-22T20:55:56.284463Z")
                },
            ],
            repositories_next: None,
            references: vec![
                reference(CONFIG_A, Config, OCI_CONFIG, 190),
                reference(LAYER_A, Layer, OCI_LAYER, 122),
            ],
            referenced_by: vec![],
            referenced_by_next: None,
        },
        "digest {MANIFEST_A} (manifest A)"
    );
    assert_eq!(
        digest_info(store, LAYER_AMD64).await,
        DigestInfo {
            repositories: vec![
                location(ALPINE, "2026-11-22T20:56:05.514008Z"),
                location(MULTI, "2026-11-22T20:55:59.359730Z"),
            ],
            referenced_by: vec![referrer(MANIFEST_AMD64, Layer)],
            referenced_by_next: None,
            ..blob_info(LAYER_AMD64, 112, "2026-11-22T20:55:59.359730Z")
        },
        "digest {LAYER_AMD64} (amd64 layer)"
    );
    assert_eq!(
        digest_info(store, CONFIG_AMD64).await,
        DigestInfo {
            repositories: vec![
                location(ALPINE, "2026-11-22T20:56:05.535422Z"),
                location(MULTI, "2026-11-22T20:55:59.377847Z"),
            ],
            referenced_by: vec![referrer(MANIFEST_AMD64, Config)],
            referenced_by_next: None,
            ..blob_info(CONFIG_AMD64, 190, "2026-11-22T20:55:59.377847Z")
        },
        "digest {CONFIG_AMD64} (amd64 config)"
    );
    // The amd64 image: a child of the index in multi, and where alpine-test:latest points now.
    assert_eq!(
        digest_info(store, MANIFEST_AMD64).await,
        DigestInfo {
            digest: digest(MANIFEST_AMD64),
            kind: ContentKind::Manifest,
            media_type: some(OCI_MANIFEST),
            size: Some(418),
            artifact_type: None,
            first_seen: Some(ts("2026-11-22T20:55:59.383198Z")),
            repositories: vec![
                DigestLocation {
                    tags: vec![tag("latest")],
                    ..location(ALPINE, "2026-11-22T20:56:05.539851Z")
                },
                DigestLocation {
                    pull_count: 1,
                    last_pulled: Some(ts("2026-11-22T20:56:05.503565Z")),
                    ..location(MULTI, "2026-11-22T20:55:59.383198Z")
                },
            ],
            repositories_next: None,
            references: vec![
                reference(LAYER_AMD64, Layer, OCI_LAYER, 112),
                reference(CONFIG_AMD64, Config, OCI_CONFIG, 190),
            ],
            referenced_by: vec![referrer(INDEX, Child)],
            referenced_by_next: None,
        },
        "digest {MANIFEST_AMD64} (amd64 manifest)"
    );
    assert_eq!(
        digest_info(store, LAYER_ARM64).await,
        DigestInfo {
            repositories: vec![location(MULTI, "2026-11-22T20:55:59.402055Z")],
            referenced_by: vec![referrer(MANIFEST_ARM64, Layer)],
            referenced_by_next: None,
            ..blob_info(LAYER_ARM64, 112, "2026-11-22T20:55:59.402055Z")
        },
        "digest {LAYER_ARM64} (arm64 layer)"
    );
    assert_eq!(
        digest_info(store, CONFIG_ARM64).await,
        DigestInfo {
            repositories: vec![location(MULTI, "2026-11-22T20:55:59.419734Z")],
            referenced_by: vec![referrer(MANIFEST_ARM64, Config)],
            referenced_by_next: None,
            ..blob_info(CONFIG_ARM64, 190, "2026-11-22T20:55:59.419734Z")
        },
        "digest {CONFIG_ARM64} (arm64 config)"
    );
    assert_eq!(
        digest_info(store, MANIFEST_ARM64).await,
        DigestInfo {
            digest: digest(MANIFEST_ARM64),
            kind: ContentKind::Manifest,
            media_type: some(OCI_MANIFEST),
            size: Some(418),
            artifact_type: None,
            first_seen: Some(ts("2026-11-22T20:55:59.425751Z")),
            repositories: vec![location(MULTI, "2026-11-22T20:55:59.425751Z")],
            repositories_next: None,
            references: vec![
                reference(LAYER_ARM64, Layer, OCI_LAYER, 112),
                reference(CONFIG_ARM64, Config, OCI_CONFIG, 190),
            ],
            referenced_by: vec![referrer(INDEX, Child)],
            referenced_by_next: None,
        },
        "digest {MANIFEST_ARM64} (arm64 manifest)"
    );
    assert_eq!(
        digest_info(store, INDEX).await,
        DigestInfo {
            digest: digest(INDEX),
            kind: ContentKind::Index,
            media_type: some(OCI_INDEX),
            size: Some(517),
            artifact_type: None,
            first_seen: Some(ts("2026-11-22T20:55:59.429820Z")),
            repositories: vec![DigestLocation {
                tags: vec![tag("2.0")],
                pull_count: 1,
                last_pulled: Some(ts("2026-11-22T20:56:05.501491Z")),
                ..location(MULTI, "2026-11-22T20:55:59.429820Z")
            }],
            repositories_next: None,
            references: vec![
                reference(MANIFEST_ARM64, Child, OCI_MANIFEST, 418),
                reference(MANIFEST_AMD64, Child, OCI_MANIFEST, 418),
            ],
            referenced_by: vec![],
            referenced_by_next: None,
        },
        "digest {INDEX} (index)"
    );
}

/// Replays `registry-2.8/basic` and checks repositories, tags, tag histories, inventory and
/// statistics: `library/alpine-test:latest` points at the amd64 image the retag pushed, `1.0`
/// is gone with its delete in its history, `team/app:1.0` and `library/multi:2.0` are live.
pub async fn basic_replay_ends_in_the_state_the_registry_reported(store: &dyn Storage) {
    let report = replay_scenario(store, BASIC).await;
    assert_eq!(report, ReplayReport { applied: 35, duplicates: 0, quarantined: 0 });
    assert_basic_repositories(store).await;
}

/// Replays `registry-2.8/basic` and checks `digest()` of all ten digests: kinds, media types,
/// sizes, references (the index's children, the images' config and layers) both ways, where
/// each digest lives, the tombstones of the deletes and the mount as a link.
pub async fn basic_replay_reports_exact_answers_for_every_digest(store: &dyn Storage) {
    replay_scenario(store, BASIC).await;
    assert_basic_digests(store).await;
}

/// Replays `registry-2.8/basic` and checks which events the default policy counted: manifest
/// pushes by tag (not the index's children pushed by digest) and manifest GETs (by tag and by digest), not the manifest HEAD, not blobs.
pub async fn basic_replay_counts_manifest_gets_and_pushes_only(store: &dyn Storage) {
    replay_scenario(store, BASIC).await;
    let log = log_of(store, EventQuery::default()).await;
    let counted: Vec<&str> = log.iter().rev().filter(|e| e.counted).map(|e| e.id.as_str()).collect();
    let expected: Vec<&str> = BASIC_COUNTED.iter().map(|&f| basic_id(f)).collect();
    assert_eq!(counted, expected, "counted events, oldest first");

    let pulls = |r: &str| EventQuery {
        repository: Some(name(r)),
        action: Some(Action::Pull),
        ..EventQuery::default()
    };
    // Three GETs of manifest A by alpine-test (two by tag, one by digest), one HEAD, four blob
    // pulls: only the GETs count.
    let alpine_pulls = log_of(store, pulls(ALPINE)).await;
    let flags: Vec<(&str, bool)> = alpine_pulls.iter().map(|e| (e.id.as_str(), e.counted)).collect();
    assert_eq!(
        flags,
        vec![
            (basic_id(25), true),
            (basic_id(24), true),
            (basic_id(23), false),
            (basic_id(10), false),
            (basic_id(8), false),
            (basic_id(7), true),
            (basic_id(5), false),
            (basic_id(4), false),
        ],
        "pulls of {ALPINE}, newest first, with their counted flag"
    );

    let alpine = stats_of(store, &repo(REGISTRY, ALPINE)).await;
    assert_eq!((alpine.push_count, alpine.pull_count), (3, 3), "push and pull counts of {ALPINE}");
    let team_app = stats_of(store, &repo(REGISTRY, TEAM_APP)).await;
    assert_eq!((team_app.push_count, team_app.pull_count), (1, 1), "push and pull counts of {TEAM_APP}");
    let multi = stats_of(store, &repo(REGISTRY, MULTI)).await;
    assert_eq!((multi.push_count, multi.pull_count), (1, 2), "push and pull counts of {MULTI}");

    // Blob pulls are not counted anywhere, not even per location.
    for blob in [LAYER_A, CONFIG_A, LAYER_AMD64, CONFIG_AMD64] {
        let info = digest_info(store, blob).await;
        let counts: Vec<u64> = info.repositories.iter().map(|l| l.pull_count).collect();
        assert!(counts.iter().all(|&c| c == 0), "blob {blob} has counted pulls {counts:?}");
    }
}

fn raw_events_of(scenario: &str) -> Vec<Value> {
    scenario_files(&scenario_dir(scenario))
        .iter()
        .flat_map(|file| read_events(file))
        .map(|event| serde_json::from_str(&event.raw).expect("a parsed event's raw text is JSON"))
        .collect()
}

/// Replays `registry-2.8/basic` and checks the event log: all 35 events newest first, each
/// with its raw JSON equal to the fixture's, and three entries field by field (a manifest HEAD,
/// a mount, the registry's tag delete).
pub async fn basic_replay_logs_every_event_newest_first_with_its_raw_json(store: &dyn Storage) {
    replay_scenario(store, BASIC).await;
    let log = log_of(store, EventQuery::default()).await;
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<&str> = BASIC_IDS.iter().rev().copied().collect();
    assert_eq!(ids, expected, "event log, newest first");

    let raws = raw_events_of(BASIC);
    for (i, entry) in log.iter().rev().enumerate() {
        let raw: Value = serde_json::from_str(&entry.raw)
            .unwrap_or_else(|e| panic!("raw of {} is not JSON: {e}: {}", entry.id, entry.raw));
        assert_eq!(raw, raws[i], "raw JSON of {} (file {:03})", entry.id, i + 1);
    }

    let by_id = |id: &str| {
        let mut entry = log.iter().find(|e| e.id == id).cloned().unwrap_or_else(|| panic!("{id} not logged"));
        entry.raw = String::new();
        entry
    };
    let entry = |file: usize, at: &str, action: Action, repository: &str| LogEntry {
        id: basic_id(file).to_owned(),
        timestamp: ts(at),
        action,
        registry: REGISTRY.to_owned(),
        repository: name(repository),
        tag: None,
        digest: None,
        media_type: None,
        kind: ContentKind::Unknown,
        actor: None,
        client_ip: some("127.0.0.1"),
        method: None,
        user_agent: some("skopeo/1.9.3"),
        source_instance: some(INSTANCE),
        counted: false,
        raw: String::new(),
    };
    assert_eq!(
        by_id(basic_id(23)),
        LogEntry {
            tag: Some(tag("1.0")),
            digest: Some(digest(MANIFEST_A)),
            media_type: some(OCI_MANIFEST),
            kind: ContentKind::Manifest,
            method: some("HEAD"),
            user_agent: some("curl/7.88.1"),
            ..entry(23, "2026-11-22T20:56:00.944658Z", Action::Pull, ALPINE)
        },
        "log entry of the manifest HEAD (023)"
    );
    assert_eq!(
        by_id(basic_id(9)),
        LogEntry {
            digest: Some(digest(LAYER_A)),
            media_type: some(OCTET_STREAM),
            kind: ContentKind::Blob,
            method: some("POST"),
            ..entry(9, "2026-11-22T20:55:56.262014Z", Action::Mount, TEAM_APP)
        },
        "log entry of the mount (009)"
    );
    assert_eq!(
        by_id(basic_id(34)),
        LogEntry {
            tag: Some(tag("1.0")),
            method: some("DELETE"),
            user_agent: some("curl/7.88.1"),
            ..entry(34, "2026-11-22T20:56:07.062490Z", Action::Delete, ALPINE)
        },
        "log entry of the tag delete (034)"
    );
    assert_eq!(
        by_id(basic_id(33)),
        LogEntry {
            digest: Some(digest(MANIFEST_A)),
            method: some("DELETE"),
            user_agent: some("curl/7.88.1"),
            ..entry(33, "2026-11-22T20:56:07.061228Z", Action::Delete, ALPINE)
        },
        "log entry of the manifest delete by digest (033)"
    );
}

/// A fixed permutation of `0..n` that moves every element far from its place.
fn scrambled(n: usize) -> Vec<usize> {
    // 13 is coprime with every fixture length used here (35 events); the assertion says so.
    let order: Vec<usize> = (0..n).map(|i| (i * 13 + 7) % n).collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "13 must be coprime with {n}");
    order
}

async fn basic_in_order(store: &dyn Storage, order: &[usize]) {
    let plans = scenario_plans(&scenario_dir(BASIC), &Policy::default());
    for &i in order {
        assert_eq!(apply_plan(store, &plans[i]).await, ApplyOutcome::Applied, "event {}", plans[i].entry.id);
    }
    assert_basic_repositories(store).await;
    assert_basic_digests(store).await;
    let reference = MemoryStore::new();
    replay(&reference, &scenario_dir(BASIC), &Policy::default()).await;
    assert_eq!(
        snapshot(store).await,
        snapshot(&reference).await,
        "store differs from basic replayed in order"
    );
}

/// Applies the events of `registry-2.8/basic` newest first: the deletes arrive before what
/// they delete, the retag before the first tag. The answers are those of the in-order replay.
pub async fn basic_replay_in_reverse_order_reaches_the_same_state(store: &dyn Storage) {
    let order: Vec<usize> = (0..BASIC_IDS.len()).rev().collect();
    basic_in_order(store, &order).await;
}

/// Applies the events of `registry-2.8/basic` in a fixed scrambled order. The answers are those
/// of the in-order replay.
pub async fn basic_replay_in_shuffled_order_reaches_the_same_state(store: &dyn Storage) {
    basic_in_order(store, &scrambled(BASIC_IDS.len())).await;
}

/// Replays `registry-3-shape` (the `basic` events as registry 3.x serialises them: empty
/// descriptor fields on deletes): files 001 to 035 give exactly the projection of
/// `registry-2.8/basic`; then the 3.x-only delete of `library/multi:2.0` by name removes that
/// tag and nothing else.
pub async fn registry3_shape_replays_to_the_same_projection_as_registry28(store: &dyn Storage) {
    let dir = scenario_dir(REGISTRY3_SHAPE);
    let files = scenario_files(&dir);
    assert_eq!(files.len(), 36, "registry-3-shape has 36 files");
    let bodies: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (f.display().to_string(), std::fs::read(f).expect("fixture file is readable")))
        .collect();
    let report = replay_bodies(store, &bodies[..35], &Policy::default()).await;
    assert_eq!(report, ReplayReport { applied: 35, duplicates: 0, quarantined: 0 });
    assert_basic_repositories(store).await;
    assert_basic_digests(store).await;

    let reference = MemoryStore::new();
    replay(&reference, &scenario_dir(BASIC), &Policy::default()).await;
    assert_eq!(
        snapshot(store).await.without_raw(),
        snapshot(&reference).await.without_raw(),
        "registry-3-shape 001-035 differs from registry-2.8/basic (raw JSON aside)"
    );

    let report = replay_bodies(store, &bodies[35..], &Policy::default()).await;
    assert_eq!(report, ReplayReport { applied: 1, duplicates: 0, quarantined: 0 });
    let multi = repo(REGISTRY, MULTI);
    let delete_id = "5b0e3a4c-7f1d-4a8e-9a59-2f3b8f6f9d21";
    assert_eq!(tags_of(store, &multi).await, vec![], "tags of {MULTI} after the delete by name");
    assert_eq!(
        history_of(store, &multi, "2.0").await,
        vec![
            TagHistoryEntry {
                at: ts("2026-11-22T20:57:01.512311Z"),
                event_id: delete_id.to_owned(),
                actor: None,
                digest: None,
                previous: Some(digest(INDEX)),
            },
            TagHistoryEntry {
                at: ts("2026-11-22T20:55:59.429820Z"),
                event_id: basic_id(22).to_owned(),
                actor: None,
                digest: Some(digest(INDEX)),
                previous: None,
            },
        ],
        "history of {MULTI}:2.0"
    );
    // Deleting a tag deletes no content: the index stays in the repository, untagged.
    let index = digest_info(store, INDEX).await;
    assert_eq!(
        index.repositories,
        vec![DigestLocation {
            pull_count: 1,
            last_pulled: Some(ts("2026-11-22T20:56:05.501491Z")),
            ..location(MULTI, "2026-11-22T20:55:59.429820Z")
        }],
        "locations of the index after its tag was deleted"
    );
    let stats = stats_of(store, &multi).await;
    assert_eq!((stats.tag_count, stats.live_digests, stats.deleted), (0, 7, None), "statistics of {MULTI}");
    assert_eq!(
        inventory_of(store, None)
            .await
            .iter()
            .map(|i| format!("{}:{}", i.repository, i.tag))
            .collect::<Vec<_>>(),
        vec!["library/alpine-test:latest", "team/app:1.0"],
        "inventory after the delete by name"
    );
    let log = log_of(store, EventQuery { repository: Some(name(MULTI)), ..EventQuery::default() }).await;
    assert_eq!(
        (
            log[0].id.as_str(),
            log[0].media_type.as_deref(),
            log[0].digest.as_ref(),
            log[0].source_instance.as_deref()
        ),
        (delete_id, None, None, Some("0f6c2f7e-2d0a-4c55-b6a0-8f1f3a9c7e11")),
        "the 3.x empty descriptor fields are not stored as values"
    );
}

/// Replays `registry-2.8/auth`: `alice` pushes `alice/tool:v1` and checks it with a HEAD,
/// `ci-bot` pulls it and deletes it. Actors appear as pushers, pullers, tag setters, deleters,
/// and the log filters by actor.
pub async fn auth_replay_records_named_actors_and_filters_by_actor(store: &dyn Storage) {
    const AUTH_IDS: [&str; 8] = [
        "6bb7c65f-4843-4c75-9065-318799632950",
        "bb05cad8-3856-4e06-9a75-e6af5541f26e",
        "7ee3a793-df99-471e-95a6-8ac97bfef929",
        "c9cb3165-2468-45ba-b10a-3cdf504cac0c",
        "6b4402b2-11ce-47c7-b385-77253880d853",
        "abcb839d-2fb8-499e-b872-e10c4e8924ff",
        "60fda746-465b-4b2e-b8b6-fe98fb37186c",
        "e52fdb41-ba41-4074-82f1-751fd37bc9bc",
    ];
    let id = |file: usize| AUTH_IDS[file - 1].to_owned();
    let report = replay_scenario(store, AUTH).await;
    assert_eq!(report, ReplayReport { applied: 8, duplicates: 0, quarantined: 0 });
    let tool = repo(REGISTRY, "alice/tool");

    assert_eq!(
        stats_of(store, &tool).await,
        RepositoryStats {
            registry: REGISTRY.to_owned(),
            repository: name("alice/tool"),
            tag_count: 0,
            // The two blobs; the manifest was deleted (007).
            live_digests: 2,
            push_count: 1,
            pull_count: 1,
            first_push: Some(ts("2026-11-22T20:56:45.086408Z")),
            last_push: Some(ts("2026-11-22T20:56:45.086408Z")),
            first_pull: Some(ts("2026-11-22T20:56:46.126541Z")),
            last_pull: Some(ts("2026-11-22T20:56:46.126541Z")),
            pushers: vec!["alice".to_owned()],
            pullers: vec!["ci-bot".to_owned()],
            deleted: None,
        },
        "statistics of alice/tool"
    );
    assert_eq!(
        history_of(store, &tool, "v1").await,
        vec![
            TagHistoryEntry {
                at: ts("2026-11-22T20:56:47.183920Z"),
                event_id: id(8),
                actor: some("ci-bot"),
                digest: None,
                previous: Some(digest(MANIFEST_A)),
            },
            TagHistoryEntry {
                at: ts("2026-11-22T20:56:45.086408Z"),
                event_id: id(3),
                actor: some("alice"),
                digest: Some(digest(MANIFEST_A)),
                previous: None,
            },
        ],
        "history of alice/tool:v1"
    );
    let manifest = digest_info(store, MANIFEST_A).await;
    assert_eq!(
        manifest.repositories,
        vec![DigestLocation {
            registry: REGISTRY.to_owned(),
            repository: name("alice/tool"),
            live: false,
            first_seen: Some(ts("2026-11-22T20:56:45.086408Z")),
            deleted: Some(tombstone(ts("2026-11-22T20:56:47.182292Z"), &id(7), Some("ci-bot"))),
            tags: vec![],
            pull_count: 1,
            last_pulled: Some(ts("2026-11-22T20:56:46.126541Z")),
        }],
        "locations of the deleted manifest"
    );

    let by_actor = |actor: &str| EventQuery { actor: Some(actor.to_owned()), ..EventQuery::default() };
    assert_eq!(log_ids(store, by_actor("alice")).await, vec![id(6), id(3), id(2), id(1)], "events by alice");
    assert_eq!(
        log_ids(store, by_actor("ci-bot")).await,
        vec![id(8), id(7), id(5), id(4)],
        "events by ci-bot"
    );
    assert_eq!(log_ids(store, by_actor("ALICE")).await, Vec::<String>::new(), "actors match exactly");
    assert_eq!(log_ids(store, by_actor("ali")).await, Vec::<String>::new(), "actors match whole names");
    assert_eq!(
        log_ids(store, EventQuery { action: Some(Action::Pull), ..by_actor("alice") }).await,
        vec![id(6)],
        "pulls by alice (her HEAD, not counted)"
    );
    let head = log_of(store, EventQuery { action: Some(Action::Pull), ..by_actor("alice") }).await;
    assert_eq!((head[0].method.as_deref(), head[0].counted), (Some("HEAD"), false), "alice's HEAD");
    assert_eq!(
        log_ids(store, EventQuery { action: Some(Action::Delete), ..by_actor("ci-bot") }).await,
        vec![id(8), id(7)],
        "deletes by ci-bot"
    );
    assert_eq!(
        log_ids(store, EventQuery { action: Some(Action::Delete), ..by_actor("alice") }).await,
        Vec::<String>::new(),
        "deletes by alice"
    );
}

/// Replays bodies holding an event that does not parse (bad timestamp), one that parses but
/// cannot be translated (a push without digest) and a good one: the good one is applied, the
/// other two are quarantined with their raw text, keyed by their ids, and replaying again
/// changes nothing.
pub async fn replay_quarantines_events_that_cannot_be_parsed_or_translated(store: &dyn Storage) {
    let good = EventBuilder::push("good-1", time(1), "team/app").blob(&test_digest(1), 10);
    let bad_time =
        r#"{"id":"bad-time","timestamp":"yesterday","action":"pull","target":{"repository":"team/app"}}"#;
    let no_digest = concat!(
        r#"{"id":"no-digest","timestamp":"2026-03-01T12:00:02Z","action":"push","#,
        r#""target":{"repository":"team/app","mediaType":"application/octet-stream"}}"#
    );
    let body = format!(r#"{{"events":[{bad_time}, {}, {no_digest}]}}"#, good.json());
    let bodies = vec![("mixed".to_owned(), body.into_bytes())];
    let policy = Policy { registry: some("fixed.example"), ..Policy::default() };

    let report = replay_bodies(store, &bodies, &policy).await;
    assert_eq!(report, ReplayReport { applied: 1, duplicates: 0, quarantined: 2 });
    let report = replay_bodies(store, &bodies, &policy).await;
    assert_eq!(report, ReplayReport { applied: 0, duplicates: 1, quarantined: 2 });

    assert_eq!(log_ids(store, EventQuery::default()).await, vec!["good-1".to_owned()], "event log");
    let records = super::quarantine_of(store).await;
    let summary: Vec<(&str, Option<&str>, Timestamp, &str)> = records
        .iter()
        .map(|r| (r.key.as_str(), r.registry.as_deref(), r.received_at, r.raw.as_str()))
        .collect();
    // Same receive time: newest first falls back to key descending.
    assert_eq!(
        summary,
        vec![
            ("id:no-digest", Some("fixed.example"), REPLAY_RECEIVED_AT, no_digest),
            ("id:bad-time", Some("fixed.example"), REPLAY_RECEIVED_AT, bad_time),
        ],
        "quarantine"
    );
    assert_eq!(records[0].reason, "a push event needs target.digest", "reason of the untranslatable event");
    assert_eq!(
        records[1].reason,
        "event 0 (bad-time): timestamp: not an RFC 3339 timestamp with offset: \"yesterday\"",
        "reason of the unparsable event"
    );
}
