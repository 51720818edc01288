//! Eight writers delivering the same 2,000 events at once, each event by several writers at
//! the same moment: the store ends with exactly one copy of each; the same under sixteen
//! senders with three projectors draining the queue together, and one projector emptying
//! every projector's lane. And interleavings forced
//! with a lock: one that a trigger-kept copy could get wrong, and deliveries that wait for
//! an uncommitted delivery of the same event.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use notify_core::media_type::{DOCKER_SCHEMA2, OCI_MANIFEST};
use notify_core::query::InventoryQuery;
use notify_core::testkit::builder::{EventBuilder, test_digest, time};
use notify_core::testkit::snapshot;
use notify_core::testkit::strategy::event_sequence;
use notify_core::{ApplyOutcome, MemoryStore, Plan, Policy, Storage, translate};
use notify_store_pg::Projection;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const EVENTS: usize = 2_000;
const WRITERS: usize = 8;

/// The tests that load the machine (many senders at once) hold this shared; the one that
/// measures a pace holds it alone, since on two cores a projector starved by another test's
/// sixteen senders falls behind a sender that is not, and the test would then measure them.
static MACHINE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn plans() -> Vec<Plan> {
    stream(EVENTS)
}

/// The plans of `n` generated events, the same ones every run.
fn stream(n: usize) -> Vec<Plan> {
    let mut runner = TestRunner::deterministic();
    let events = event_sequence(n..=n).new_tree(&mut runner).expect("a sequence").current();
    let policy = Policy::default();
    events.iter().filter_map(|e| translate(e, &policy).ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redelivery_stores_each_event_once() {
    redeliver_concurrently(Projection::Inline).await;
}

/// The same with the projections behind the acknowledgements: a redelivery also races the
/// projection of its first delivery, and must still be answered as a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redelivery_stores_each_event_once_when_projection_is_deferred() {
    redeliver_concurrently(Projection::Deferred).await;
}

// The body of the two tests above, which clippy does not see as a test.
#[allow(clippy::unwrap_used)]
async fn redeliver_concurrently(projection: Projection) {
    let _shared = MACHINE.read().await;
    let plans = Arc::new(plans());
    let pg = support::fresh_store_with(WRITERS, projection).await;
    let applied = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, plans, applied) = (pg.store.clone(), plans.clone(), applied.clone());
        writers.push(tokio::spawn(async move {
            // Half go forwards and half backwards, each a few events off the others, so that
            // every event is in flight in several writers at nearly the same time.
            let n = plans.len();
            for i in 0..n {
                let j = (i + w / 2) % n;
                let plan = if w % 2 == 0 { &plans[j] } else { &plans[n - 1 - j] };
                match store.apply(plan).await {
                    Ok(ApplyOutcome::Applied) => {
                        applied.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(ApplyOutcome::Duplicate) => {}
                    Err(e) => panic!("writer {w}: apply of {} failed: {e}", plan.entry.id),
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
    eprintln!("{} deliveries by {WRITERS} writers in {:?}", plans.len() * WRITERS, started.elapsed());
    assert_eq!(applied.load(Ordering::Relaxed), plans.len(), "every event applied exactly once");

    // First through the trait, whose reads project what is still queued.
    let memory = MemoryStore::new();
    for plan in plans.iter() {
        memory.apply(plan).await.unwrap();
    }
    let started = std::time::Instant::now();
    let pg_snapshot = snapshot(&*pg).await;
    eprintln!("snapshot in {:?}", started.elapsed());
    assert_eq!(pg_snapshot, snapshot(&memory).await);

    let client = pg.pool().get().await.expect("a connection");
    let s = pg.schema();
    let logged: i64 =
        client.query_one(&format!("SELECT count(*) FROM \"{s}\".events"), &[]).await.unwrap().get(0);
    assert_eq!(logged as usize, plans.len());
    let counted: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{s}\".events WHERE counted"), &[])
        .await
        .unwrap()
        .get(0);
    let counters: i64 = client
        .query_one(&format!("SELECT sum(push_count + pull_count)::bigint FROM \"{s}\".repositories"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(counters, counted, "repository counters add up to the counted events");
    let queued: i64 =
        client.query_one(&format!("SELECT count(*) FROM \"{s}\".pending"), &[]).await.unwrap().get(0);
    assert_eq!(queued, 0, "a read leaves nothing queued before it");
}

/// With deferred projection the queue is bounded: once `max_lag` events wait, deliveries wait
/// for the projector to make room, so that the backlog (and a read's wait) stays near
/// `max_lag` however fast events arrive. Sampled while 16 senders deliver 1,600 events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_holds_deliveries_back_until_the_projector_makes_room() {
    let _shared = MACHINE.read().await;
    const MAX_LAG: usize = 100;
    const SENDERS: usize = 16;
    let mut config = support::cluster().config(&support::fresh_schema()).with_pool_size(8);
    config.max_lag = MAX_LAG;
    let pg = notify_store_pg::PgStore::connect(&config).await.expect("a store");
    let plans: Arc<Vec<Plan>> = Arc::new(plans().into_iter().take(1_600).collect());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = {
        let (store, done) = (pg.clone(), done.clone());
        tokio::spawn(async move {
            let (mut most, mut samples) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                let n = store.backlog().await.expect("the backlog");
                (most, samples) = (most.max(n), samples + 1);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            (most, samples)
        })
    };
    let started = std::time::Instant::now();
    let mut senders = Vec::new();
    for k in 0..SENDERS {
        let (store, plans) = (pg.clone(), plans.clone());
        senders.push(tokio::spawn(async move {
            for plan in plans.iter().skip(k).step_by(SENDERS) {
                store.apply(plan).await.expect("an apply");
            }
        }));
    }
    for sender in senders {
        sender.await.expect("a sender");
    }
    done.store(true, Ordering::Relaxed);
    let (most, samples) = sampling.await.expect("the sampler");
    eprintln!("at most {most} queued over {samples} samples, {:?}", started.elapsed());
    // A writer checks for room before it queues a batch (at most 256 plans).
    assert!(most <= (MAX_LAG + 256) as u64, "{most} queued with max_lag {MAX_LAG}");
    assert!(most >= MAX_LAG as u64 / 2, "the queue never filled ({most}): nothing was tested");

    // Nothing lost on the way: a read projects the rest, and the log holds every event once.
    pg.events(&Default::default()).await.expect("a read");
    let client = pg.pool().get().await.expect("a connection");
    let s = pg.schema();
    let count = |table: &str| format!("SELECT count(*) FROM \"{s}\".{table}");
    let logged: i64 = client.query_one(&count("events"), &[]).await.expect("a count").get(0);
    assert_eq!((logged as usize, pg.backlog().await.expect("the backlog")), (plans.len(), 0));
}

/// Three projectors drain a deep queue together: with sixteen senders delivering every event
/// twice, the queue outruns one projector, the helpers join it (seen in `pg_stat_activity`:
/// two projections or more at once), and the tables, projected by them alone (no read runs
/// until the queue is empty), hold each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helpers_project_a_deep_queue_beside_the_projector_and_nothing_is_doubled() {
    let _shared = MACHINE.read().await;
    const SENDERS: usize = 16;
    let config = support::cluster().config(&support::fresh_schema()).with_pool_size(8).with_projectors(3);
    let pg = notify_store_pg::PgStore::connect(&config).await.expect("a store");
    let plans = Arc::new(plans());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = {
        let (pool, done) = (pg.pool().clone(), done.clone());
        let projecting = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%\"{}\".project_lane($1%'",
            pg.schema()
        );
        tokio::spawn(async move {
            let client = pool.get().await.expect("a connection");
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                let n: i64 = client.query_one(&projecting, &[]).await.expect("the activity").get(0);
                most = most.max(n);
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            most
        })
    };
    let applied = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut senders = Vec::new();
    for k in 0..SENDERS {
        let (store, plans, applied) = (pg.clone(), plans.clone(), applied.clone());
        senders.push(tokio::spawn(async move {
            // Sender k and sender k + 8 deliver the same events.
            for plan in plans.iter().skip(k % (SENDERS / 2)).step_by(SENDERS / 2) {
                if store.apply(plan).await.expect("an apply") == ApplyOutcome::Applied {
                    applied.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for sender in senders {
        sender.await.expect("a sender");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while pg.backlog().await.expect("the backlog") > 0 {
        assert!(std::time::Instant::now() < deadline, "the projectors left events queued");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    done.store(true, Ordering::Relaxed);
    let most = sampling.await.expect("the sampler");
    eprintln!("{} events twice in {:?}, at most {most} projections at once", plans.len(), started.elapsed());
    assert_eq!(applied.load(Ordering::Relaxed), plans.len(), "every event applied exactly once");
    assert!(most >= 2, "no helper ever projected beside the projector");

    let memory = MemoryStore::new();
    for plan in plans.iter() {
        memory.apply(plan).await.expect("the reference");
    }
    assert_eq!(snapshot(&pg).await, snapshot(&memory).await);
    let client = pg.pool().get().await.expect("a connection");
    let logged: i64 = client
        .query_one(&format!("SELECT count(*) FROM \"{}\".events", pg.schema()), &[])
        .await
        .expect("a count")
        .get(0);
    assert_eq!(logged as usize, plans.len());
}

/// One sender at a time is not a burst: its events are projected as they come, a batch
/// (512) at a time at most, so the backlog stays near one batch however long the stream,
/// and a read never waits for much. A projector that took the stream for a burst would give
/// way to it for `max_delay`, here longer than the stream, and hold all of it; the stream
/// is eight batches long, so that one slowed by other work on the machine (1,030 queued at
/// once has been seen beside two builds) is still far from half of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_steady_stream_from_one_sender_is_projected_as_it_comes() {
    let _alone = MACHINE.write().await;
    let pg = support::fresh_store_configured(|mut c| {
        c.max_delay = std::time::Duration::from_secs(600);
        c.max_lag = 100_000;
        c.with_pool_size(4).with_projection(Projection::Deferred)
    })
    .await;
    let plans = stream(4_096);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = {
        let (store, done) = (pg.store.clone(), done.clone());
        tokio::spawn(async move {
            let mut most = 0;
            while !done.load(Ordering::Relaxed) {
                most = most.max(store.backlog().await.expect("the backlog"));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            most
        })
    };
    let started = std::time::Instant::now();
    for plan in &plans {
        pg.apply(plan).await.expect("an apply");
    }
    done.store(true, Ordering::Relaxed);
    let most = sampling.await.expect("the sampler");
    eprintln!("{} events in {:?}, at most {most} queued", plans.len(), started.elapsed());
    assert!(most < plans.len() as u64 / 2, "{most} of {} events queued at once", plans.len());
}

/// A tag set to a digest while another transaction raises that digest's media type ends with
/// the raised type. The other transaction is held, by a lock on its repository's row taken
/// here, after it has raised the type and before it commits; the tag is set then, from
/// another process (store), in another repository. Inline, where the transactions are the
/// deliveries' own and can be held one against the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tag_set_while_its_digest_is_raised_shows_the_raised_media_type() {
    let a = support::fresh_inline_store().await;
    let b = notify_store_pg::PgStore::connect(&a.config).await.expect("a second store");
    let policy = Policy::default();
    let d = test_digest(0x51);
    let plan = |e: EventBuilder| e.plan(&policy);
    let first = plan(
        EventBuilder::push("p1", time(1), "team/a").manifest(&d, 400).media_type(DOCKER_SCHEMA2).tag("1"),
    );
    a.apply(&first).await.unwrap();

    let mut holder = a.pool().get().await.expect("a connection");
    let hold = holder.transaction().await.unwrap();
    let s = a.schema();
    hold.execute(&format!("SELECT 1 FROM \"{s}\".repositories WHERE name = 'team/a' FOR UPDATE"), &[])
        .await
        .unwrap();
    // Raises the type of `d` (an OCI manifest is greater), then waits for team/a's row.
    let raise = plan(EventBuilder::pull("g1", time(2), "team/a").manifest(&d, 400));
    let raising = {
        let store = a.store.clone();
        tokio::spawn(async move { store.apply(&raise).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let tag = plan(
        EventBuilder::push("p2", time(3), "team/b").manifest(&d, 400).media_type(DOCKER_SCHEMA2).tag("x"),
    );
    let tagging = tokio::spawn(async move { b.apply(&tag).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    hold.commit().await.unwrap();
    assert_eq!(raising.await.unwrap().unwrap(), ApplyOutcome::Applied);
    assert_eq!(tagging.await.unwrap().unwrap(), ApplyOutcome::Applied);

    let items = a.inventory(&InventoryQuery::default()).await.unwrap().items;
    let types: Vec<_> = items
        .iter()
        .map(|i| (i.repository.to_string(), i.tag.to_string(), i.media_type.as_deref()))
        .collect();
    assert_eq!(
        types,
        [
            ("team/a".to_owned(), "1".to_owned(), Some(OCI_MANIFEST)),
            ("team/b".to_owned(), "x".to_owned(), Some(OCI_MANIFEST))
        ]
    );
}

/// A redelivery that arrives while the first delivery of its event is logged and not yet
/// committed (held open here, as a writer's transaction is for a moment) waits for it on the
/// log's primary key. Committed, the redelivery is a duplicate and queues nothing; rolled
/// back, the redelivery is the one that logs and queues the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivery_waiting_for_an_uncommitted_delivery_of_its_event_follows_its_outcome() {
    let pg = support::fresh_deferred_store().await;
    for commit in [true, false] {
        let id = format!("held-{commit}");
        let plan = push(&id, 0x61, &format!("t-{commit}"));
        let redelivery = {
            let (store, plan) = (pg.store.clone(), plan.clone());
            move || tokio::spawn(async move { store.apply(&plan).await.expect("the redelivery") })
        };
        let outcome = while_logged(&pg, &id, "enqueue_one", commit, redelivery).await;
        let queued = queued_commands(&pg, &id).await;
        if commit {
            assert_eq!(outcome, ApplyOutcome::Duplicate);
            assert_eq!(queued, 0, "the duplicate queued commands");
        } else {
            assert_eq!(outcome, ApplyOutcome::Applied);
            assert!(queued <= 1, "{queued} queued");
        }
    }
    // Projected, only the rolled-back one's tag is set: the other event was logged by the
    // held transaction alone, with no commands.
    let tagged = pg.tags(&plan_repo(), &Default::default()).await.unwrap().items;
    let tagged: Vec<&str> = tagged.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tagged, ["t-false"]);
}

/// The same for a batch (`enqueue`), called here directly with the held event and a new one:
/// only the new one is logged and queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_waiting_for_an_uncommitted_delivery_of_one_of_its_events_queues_only_the_others() {
    let pg = support::fresh_deferred_store().await;
    let s = pg.schema().to_owned();
    let (held, fresh) = ("held".to_owned(), "fresh".to_owned());
    let batch = || {
        let (pool, ids) = (pg.pool().clone(), vec![held.clone(), fresh.clone()]);
        // Two bare events with no commands, in the arrays `enqueue` takes.
        let sql = format!(
            "SELECT \"{s}\".enqueue($1, ARRAY[0, 0]::bigint[], ARRAY['push', 'push'], ARRAY['r', 'r'],
                 ARRAY['team/a', 'team/a'], ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[],
                 ARRAY[NULL, NULL]::text[], ARRAY['manifest', 'manifest'], ARRAY[NULL, NULL]::text[],
                 ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[], ARRAY[NULL, NULL]::text[],
                 ARRAY[NULL, NULL]::text[], ARRAY[true, true], ARRAY['', ''], ARRAY['[]', '[]'])"
        );
        tokio::spawn(async move {
            let client = pool.get().await.expect("a connection");
            client.query_one(&sql, &[&ids]).await.expect("the batch").get::<_, Vec<String>>(0)
        })
    };
    let new = while_logged(&pg, &held, "enqueue(", true, batch).await;
    assert_eq!(new, vec![fresh.clone()]);
    assert_eq!(queued_commands(&pg, &held).await, 0, "the batch queued the held event's commands");
    let logged: i64 = pg
        .pool()
        .get()
        .await
        .expect("a connection")
        .query_one(&format!("SELECT count(*) FROM \"{s}\".events WHERE id IN ('held', 'fresh')"), &[])
        .await
        .expect("a statement")
        .get(0);
    assert_eq!(logged, 2);
}

/// The projector takes batches from a mark past what it took (migration 14). A writer may
/// commit a row below that mark after the mark moved: the projector still projects it, with
/// no read to settle the queue. Here the late row is queued by a transaction held open while
/// later events are queued and projected, and committed after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_committed_below_the_projectors_mark_are_still_projected() {
    let pg = support::fresh_deferred_store().await;
    let s = pg.schema().to_owned();
    let mut holder = pg.pool().get().await.expect("a connection");
    let hold = holder.transaction().await.expect("a transaction");
    hold.execute(
        &format!(
            "INSERT INTO \"{s}\".events (id, at, action, registry, repository, kind, counted, raw)
             VALUES ('late', now(), 'push', 'r', 'team/late', 'manifest', true, '');
             "
        ),
        &[],
    )
    .await
    .expect("a statement");
    hold.execute(
        &format!(
            "INSERT INTO \"{s}\".pending (id, commands) VALUES ('late', '[{{\"op\": \"delete_repository\",
               \"registry\": \"r\", \"repository\": \"team/late\", \"at\": 0, \"event\": \"late\"}}]')"
        ),
        &[],
    )
    .await
    .expect("a statement");
    for i in 0..50 {
        let plan = push(&format!("after-{i}"), 0x70 + i, "1");
        assert_eq!(pg.store.apply(&plan).await.unwrap(), ApplyOutcome::Applied);
    }
    let client = pg.pool().get().await.expect("a connection");
    let count = format!("SELECT count(*) FROM \"{s}\".pending");
    let queued = async || client.query_one(&count, &[]).await.expect("a statement").get::<_, i64>(0);
    let started = std::time::Instant::now();
    while queued().await > 0 {
        assert!(started.elapsed().as_secs() < 20, "the projector never drained the later events");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    hold.commit().await.expect("a statement");
    let started = std::time::Instant::now();
    while queued().await > 0 {
        assert!(started.elapsed().as_secs() < 10, "the late row stayed queued");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let deleted: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{s}\".repositories WHERE name = 'team/late' AND deleted_event = 'late'"),
            &[],
        )
        .await
        .expect("a statement")
        .get(0);
    assert_eq!(deleted, 1, "the late row was projected");
}

/// Logs `id` in a transaction held open, starts `deliver`, waits until a statement calling
/// `function` waits for a lock, commits or rolls back, and returns what `deliver` returned.
async fn while_logged<T: Send + 'static>(
    pg: &support::TestStore,
    id: &str,
    function: &str,
    commit: bool,
    deliver: impl FnOnce() -> tokio::task::JoinHandle<T>,
) -> T {
    let s = pg.schema();
    let mut holder = pg.pool().get().await.expect("a connection");
    let watcher = pg.pool().get().await.expect("a connection");
    let hold = holder.transaction().await.expect("a transaction");
    hold.execute(
        &format!(
            "INSERT INTO \"{s}\".events (id, at, action, registry, repository, kind, counted, raw)
             VALUES ($1, now(), 'push', 'r', 'team/a', 'manifest', true, '')"
        ),
        &[&id],
    )
    .await
    .expect("a statement");
    let delivery = deliver();
    let waiting = format!("%\"{s}\".{function}%");
    let started = std::time::Instant::now();
    loop {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
                &[&waiting],
            )
            .await
            .expect("a statement")
            .get(0);
        if n > 0 {
            break;
        }
        assert!(started.elapsed().as_secs() < 10, "the delivery never waited for the held one");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if commit {
        hold.commit().await.expect("a statement");
    } else {
        hold.rollback().await.expect("a statement");
    }
    delivery.await.expect("the delivery")
}

/// Each projector takes its own lane's events first (migration 16), and the projector alone
/// (one sender is no burst, so no helper joins it) still takes every lane's: the queue
/// empties with no read to settle it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_projector_alone_empties_every_lane() {
    let _shared = MACHINE.read().await;
    let config = support::cluster().config(&support::fresh_schema()).with_projectors(2);
    let pg = notify_store_pg::PgStore::connect(&config).await.expect("a store");
    let repositories: Vec<String> = (0..16).map(|i| format!("team/lane-{i}")).collect();
    for (i, repository) in repositories.iter().enumerate() {
        let plan = EventBuilder::push(&format!("lane-{i}"), time(1), repository)
            .manifest(&test_digest(0x200 + i as u32), 10)
            .tag("1")
            .plan(&Policy::default());
        assert_eq!(pg.apply(&plan).await.expect("an apply"), ApplyOutcome::Applied);
    }
    let client = pg.pool().get().await.expect("a connection");
    let s = pg.schema();
    let lanes: i64 = client
        .query_one(
            &format!("SELECT count(DISTINCT \"{s}\".lane_of($1, name) % 2) FROM unnest($2::text[]) AS name"),
            &[&plan_repo().registry, &repositories],
        )
        .await
        .expect("the lanes")
        .get(0);
    assert_eq!(lanes, 2, "the repositories fall in both lanes of two projectors");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pg.backlog().await.expect("the backlog") > 0 {
        assert!(std::time::Instant::now() < deadline, "a lane was left queued");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let projected: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{s}\".tags WHERE repo_id IN (SELECT id FROM \"{s}\".repositories)"
            ),
            &[],
        )
        .await
        .expect("the tags")
        .get(0);
    assert_eq!(projected, repositories.len() as i64);
}

/// The projector vacuums the queue as it empties it (every 20,000 plans), instead of
/// leaving it to autovacuum's minute, in which a sustained load leaves hundreds of megabytes
/// of dead rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_projector_vacuums_the_queue_it_empties() {
    let _shared = MACHINE.read().await;
    const EVENTS: usize = 20_500;
    const SENDERS: usize = 8;
    let pg = support::fresh_deferred_store().await;
    let mut senders = Vec::new();
    for k in 0..SENDERS {
        let store = pg.store.clone();
        senders.push(tokio::spawn(async move {
            for i in (k..EVENTS).step_by(SENDERS) {
                let plan = push(&format!("vacuum-{i}"), 0x1000 + i as u32, &format!("t{}", i % 50));
                store.apply(&plan).await.expect("an apply");
            }
        }));
    }
    for sender in senders {
        sender.await.expect("a sender");
    }
    let client = pg.pool().get().await.expect("a connection");
    let vacuums = format!(
        "SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = '{}' AND relname = 'pending'",
        pg.schema()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let vacuumed: i64 = client.query_one(&vacuums, &[]).await.expect("the table's statistics").get(0);
        if vacuumed > 0 && pg.backlog().await.expect("the backlog") == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the queue was never vacuumed by the store");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// How many commands are queued for `id`.
async fn queued_commands(pg: &support::TestStore, id: &str) -> i64 {
    let client = pg.pool().get().await.expect("a connection");
    let s = pg.schema();
    client
        .query_one(&format!("SELECT count(*) FROM \"{s}\".pending WHERE id = $1"), &[&id])
        .await
        .expect("a statement")
        .get(0)
}

/// A push of a manifest (`digest` names it), tagged `tag`, with the event id `id`.
fn push(id: &str, digest: u32, tag: &str) -> Plan {
    EventBuilder::push(id, time(1), "team/a")
        .manifest(&test_digest(digest), 10)
        .tag(tag)
        .plan(&Policy::default())
}

/// The repository of [`push`].
fn plan_repo() -> notify_core::RepoRef {
    let entry = push("x", 0x61, "x").entry;
    notify_core::RepoRef { registry: entry.registry, repository: entry.repository }
}
