//! The migration runner: idempotent, safe to race, upgrades keep data, and refuses schemas it
//! does not understand.

mod support;

use notify_core::media_type::DOCKER_SCHEMA2;
use notify_core::query::EventQuery;
use notify_core::testkit::builder::{EventBuilder, apply_all, test_digest, time};
use notify_core::testkit::fixtures::{read_body, replay_bodies, scenario_dir, scenario_files};
use notify_core::testkit::snapshot;
use notify_core::{ApplyOutcome, MemoryStore, Policy, Storage};
use notify_store_pg::migrate::{MIGRATIONS, latest_version};
use notify_store_pg::{PgError, PgStore, Projection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_again_changes_nothing() {
    let pg = support::fresh_store().await;
    assert_eq!(pg.schema_version().await.unwrap(), Some(latest_version()));
    assert_eq!(pg.migrate().await.unwrap(), Vec::<i32>::new());
    assert_eq!(pg.migrate().await.unwrap(), Vec::<i32>::new());
    assert_eq!(pg.schema_version().await.unwrap(), Some(latest_version()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_migrating_at_once_apply_each_migration_once() {
    let config = support::cluster().config(&support::fresh_schema());
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let store = PgStore::connect_without_migrating(&config).unwrap();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.await.unwrap().unwrap());
    }
    applied.sort();
    let all: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(applied, all, "each migration ran exactly once across the racing processes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_the_previous_version_keeps_the_data() {
    let config = support::cluster().config(&support::fresh_schema());
    let store = PgStore::connect_without_migrating(&config).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), None);
    let previous = latest_version() - 1;
    assert_eq!(store.migrate_to(previous).await.unwrap(), (1..=previous).collect::<Vec<_>>());
    assert_eq!(store.schema_version().await.unwrap(), Some(previous));

    // Data written at the previous version, as that version's writer wrote it.
    let client = store.pool().get().await.unwrap();
    let s = store.schema();
    client
        .batch_execute(&format!(
            "INSERT INTO \"{s}\".events (id, at, action, registry, repository, digest, kind, counted, raw)
             VALUES ('old-1', '2026-01-01T00:00:00Z', 'pull', 'r', 'team/app', '{d}', 'manifest', true, '{{}}');
             INSERT INTO \"{s}\".repositories (registry, name, pull_count) VALUES ('r', 'team/app', 1);
             INSERT INTO \"{s}\".tag_history (repo_id, tag, at, event_id, digest, actor)
             SELECT id, '0.9', '2026-01-01T00:00:00Z', 'old-1', '{d}', 'alice'
             FROM \"{s}\".repositories WHERE name = 'team/app';",
            d = test_digest(1)
        ))
        .await
        .unwrap();
    drop(client);

    assert_eq!(store.migrate().await.unwrap(), vec![latest_version()]);
    let events = store.events(&EventQuery::default()).await.unwrap();
    assert_eq!(events.items.len(), 1);
    assert_eq!(events.items[0].id, "old-1");
    let repo = notify_core::RepoRef { registry: "r".into(), repository: "team/app".parse().unwrap() };
    let history = store
        .tag_history(&repo, &"0.9".parse().unwrap(), &notify_core::PageRequest::first(10))
        .await
        .unwrap();
    let kept: Vec<_> =
        history.items.iter().map(|h| (h.event_id.as_str(), h.actor.as_deref(), h.digest.clone())).collect();
    assert_eq!(kept, [("old-1", Some("alice"), Some(test_digest(1)))]);

    // And the upgraded schema takes new events beside the old ones.
    let plan = EventBuilder::push("new-1", time(10), "team/app")
        .manifest(&test_digest(2), 10)
        .tag("1.0")
        .plan(&Policy::default());
    assert_eq!(store.apply(&plan).await.unwrap(), ApplyOutcome::Applied);
    assert_eq!(store.events(&EventQuery::default()).await.unwrap().items.len(), 2);
}

/// Migration 13 changed what the deferred queue holds (whole plans, then only commands, the
/// writers logging the events themselves): a plan queued before it is logged and projected
/// after it, once, and a redelivery of it is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_queued_before_migration_13_is_logged_and_projected_after_it() {
    let mut config = support::cluster().config(&support::fresh_schema());
    config.projection = Projection::Deferred;
    let store = PgStore::connect_without_migrating(&config).unwrap();
    store.migrate_to(12).await.unwrap();
    let d = test_digest(3);
    let at = 1_767_225_600_000_000_i64;
    let place = |op: &str| {
        serde_json::json!({"op": op, "registry": "r", "repository": "team/app", "at": at,
                           "event": "queued-1", "actor": "me"})
    };
    let mut set_tag = place("set_tag");
    set_tag["tag"] = "1.0".into();
    set_tag["digest"] = d.as_str().into();
    let mut link = place("link");
    link["digest"] = d.as_str().into();
    let plan = serde_json::json!({
        "id": "queued-1", "at": at, "action": "push", "registry": "r", "repository": "team/app",
        "tag": "1.0", "digest": d.as_str(), "media_type": DOCKER_SCHEMA2, "kind": "manifest",
        "actor": "me", "client_ip": null, "method": null, "user_agent": null,
        "source_instance": null, "counted": true, "raw": "{\"as\":\"received\"}",
        "commands": [
            {"op": "content", "digest": d.as_str(), "kind": "manifest", "media_type": DOCKER_SCHEMA2,
             "size": 10, "artifact_type": null, "seen": at, "refs": []},
            link, set_tag,
            {"op": "count_push", "registry": "r", "repository": "team/app", "tag": "1.0",
             "digest": d.as_str(), "actor": "me", "at": at}
        ]
    });
    let client = store.pool().get().await.unwrap();
    let s = store.schema();
    let queued: bool = client
        .query_one(&format!("SELECT \"{s}\".enqueue_one($1, $2)"), &[&"queued-1", &plan.to_string()])
        .await
        .unwrap()
        .get(0);
    assert!(queued);
    drop(client);

    assert_eq!(store.migrate().await.unwrap(), (13..=latest_version()).collect::<Vec<_>>());
    let events = store.events(&EventQuery::default()).await.unwrap().items;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].id.as_str(), events[0].raw.as_str()), ("queued-1", "{\"as\":\"received\"}"));
    let repo = notify_core::RepoRef { registry: "r".into(), repository: "team/app".parse().unwrap() };
    let tags = store.tags(&repo, &Default::default()).await.unwrap().items;
    assert_eq!(tags.len(), 1);
    assert_eq!((tags[0].tag.as_str(), &tags[0].digest), ("1.0", &d));
    let stats = store.repository_stats(&repo).await.unwrap().expect("the repository");
    assert_eq!(stats.push_count, 1);

    // The queue is of the new kind, and the old event is known to the new gate.
    let again = EventBuilder::push("queued-1", time(1), "team/app").manifest(&d, 10).plan(&Policy::default());
    assert_eq!(store.apply(&again).await.unwrap(), ApplyOutcome::Duplicate);
    assert_eq!(store.repository_stats(&repo).await.unwrap().expect("the repository").push_count, 1);
}

/// Migration 4 moved liveness from the read side into flags and counts kept on write, and
/// migration 6 copies each tag's media type onto it; what version 3 wrote must come out of
/// the upgrade with the flags, counts and media types it would have had, and the triggers
/// must carry on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_kept_on_write_is_backfilled_from_what_version_3_wrote() {
    // Inline: version 3 has no queue; its writer is `apply_plan`.
    let config = support::cluster().config(&support::fresh_schema()).with_projection(Projection::Inline);
    let pg = PgStore::connect_without_migrating(&config).unwrap();
    pg.migrate_to(3).await.unwrap();
    let reference = MemoryStore::new();
    let policy = Policy::default();

    let (m1, m2, m3) = (test_digest(1), test_digest(2), test_digest(3));
    let (m4, m5) = (test_digest(4), test_digest(5));
    let before = [
        EventBuilder::push("p1", time(10), "team/app").manifest(&m1, 10).tag("1.0"),
        EventBuilder::push("p2", time(11), "team/app").manifest(&m2, 10).tag("2.0"),
        EventBuilder::push("p3", time(12), "team/app").manifest(&m2, 10).tag("latest"),
        EventBuilder::pull("g1", time(13), "team/app").manifest(&m2, 10).tag("latest"),
        // A delete by digest hides 1.0; a deleted repository hides all of team/gone.
        EventBuilder::delete("d1", time(14), "team/app").manifest(&m1, 10),
        EventBuilder::push("p4", time(15), "team/gone").manifest(&m3, 10).tag("x"),
        EventBuilder::delete("d2", time(16), "team/gone"),
        // A tag whose digest's media type a later pull raised.
        EventBuilder::push("p7", time(17), "team/app").manifest(&m4, 10).media_type(DOCKER_SCHEMA2).tag("d"),
        EventBuilder::pull("g2", time(18), "team/app").manifest(&m4, 10),
    ];
    // Written through version 3's own functions.
    apply_all(&pg, &before, &policy).await;
    apply_all(&reference, &before, &policy).await;
    let mut bodies = Vec::new();
    for scenario in ["registry-2.8/basic", "registry-2.8/auth", "registry-3-shape"] {
        for file in scenario_files(&scenario_dir(scenario)) {
            bodies.push((file.display().to_string(), read_body(&file)));
        }
    }
    replay_bodies(&pg, &bodies, &policy).await;
    replay_bodies(&reference, &bodies, &policy).await;

    assert_eq!(pg.migrate().await.unwrap(), (4..=latest_version()).collect::<Vec<_>>());
    assert_eq!(snapshot(&pg).await, snapshot(&reference).await, "right after the upgrade");

    // Each input of the rules changes once more, now through the triggers.
    let after = [
        EventBuilder::push("p5", time(20), "team/gone").manifest(&m3, 10).tag("y"),
        EventBuilder::push("p6", time(21), "team/app").manifest(&m1, 10).tag("1.0"),
        EventBuilder::delete("d3", time(22), "team/app").manifest(&m2, 10),
        EventBuilder::delete("d4", time(23), "team/gone"),
        EventBuilder::push("p8", time(24), "team/app").manifest(&m5, 10).media_type(DOCKER_SCHEMA2).tag("e"),
        EventBuilder::pull("g3", time(25), "team/app").manifest(&m5, 10),
    ];
    apply_all(&pg, &after, &policy).await;
    apply_all(&reference, &after, &policy).await;
    assert_eq!(snapshot(&pg).await, snapshot(&reference).await, "after new events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_or_unknown_migration_stops_the_start() {
    let pg = support::fresh_store().await;
    let client = pg.pool().get().await.unwrap();
    let s = pg.schema();
    client
        .batch_execute(&format!("UPDATE \"{s}\".schema_migrations SET checksum = 'x' WHERE version = 1"))
        .await
        .unwrap();
    assert!(matches!(pg.migrate().await, Err(PgError::ChecksumMismatch { version: 1, .. })));
    client.batch_execute(&format!("DELETE FROM \"{s}\".schema_migrations WHERE version = 1")).await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO \"{s}\".schema_migrations (version, name, checksum) VALUES (99, 'future', 'x')"
        ))
        .await
        .unwrap();
    assert!(matches!(pg.migrate().await, Err(PgError::SchemaTooNew { found: 99, .. })));
    assert!(matches!(pg.migrate_to(42).await, Err(PgError::UnknownVersion(42))));
}
