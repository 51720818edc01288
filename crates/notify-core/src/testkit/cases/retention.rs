//! Pruning the event log: old entries go, the projection stays.

use futures_util::{StreamExt, stream};

use super::{apply_plan, log_ids, repo, stats_of};
use crate::query::EventQuery;
use crate::testkit::builder::{DEFAULT_HOST, EventBuilder, apply_all, test_digest, time, time_micros};
use crate::testkit::snapshot::{StoreSnapshot, snapshot};
use crate::{ApplyOutcome, Policy, Storage};

/// The snapshot without its log: what pruning must leave as it was.
fn projection(mut s: StoreSnapshot) -> StoreSnapshot {
    s.events.items.clear();
    s.events.pages.clear();
    s.filtered_events.clear();
    s
}

/// `prune_events(t)` removes exactly the log entries stamped before `t` (to the microsecond;
/// one stamped `t` stays), reports how many, and changes no other answer: counts, firsts and
/// lasts, tags, history, content and links keep what the pruned events taught. A second
/// prune removes nothing. A kept event is still a duplicate; a pruned one is forgotten, so
/// applying it again counts it again (which is why the server keeps events that old away).
pub async fn pruning_the_log_removes_old_entries_and_leaves_the_projection(store: &dyn Storage) {
    let (m1, m2, l1) = (test_digest(1), test_digest(2), test_digest(0x11));
    let events = [
        EventBuilder::push("o1", time(10), "app").manifest(&m1, 400).tag("1.0").actor("alice"),
        EventBuilder::pull("o2", time(11), "app").manifest(&m1, 400).tag("1.0").actor("bob"),
        EventBuilder::push("o3", time_micros(20_000_000 - 1), "lib/x").blob(&l1, 100),
        EventBuilder::pull("n1", time(20), "app").manifest(&m1, 400).tag("1.0").actor("carol"),
        EventBuilder::push("n2", time(21), "app").manifest(&m2, 500).tag("2.0").actor("alice"),
        EventBuilder::pull("n3", time(22), "lib/x").blob(&l1, 100),
    ];
    apply_all(store, &events, &Policy::default()).await;
    let before = snapshot(store).await;
    let all = log_ids(store, EventQuery::default()).await;
    assert_eq!(all, ["n3", "n2", "n1", "o3", "o2", "o1"], "the log before pruning");

    assert_eq!(store.prune_events(time(20)).await.expect("prune"), 3, "entries pruned before t=20s");
    assert_eq!(log_ids(store, EventQuery::default()).await, ["n3", "n2", "n1"], "the log after pruning");
    assert_eq!(
        projection(snapshot(store).await),
        projection(before),
        "pruning the log changed an answer other than the log's"
    );
    let app = stats_of(store, &repo(DEFAULT_HOST, "app")).await;
    assert_eq!((app.push_count, app.pull_count), (2, 2), "app's counts after pruning");
    assert_eq!(
        (app.first_push, app.first_pull),
        (Some(time(10)), Some(time(11))),
        "app's firsts after pruning"
    );
    assert_eq!(app.pullers, ["bob", "carol"], "app's pullers after pruning");

    assert_eq!(store.prune_events(time(20)).await.expect("prune"), 0, "a second prune");
    assert_eq!(store.prune_events(time(0)).await.expect("prune"), 0, "a prune before everything");

    let plans: Vec<_> = events.iter().map(|e| e.plan(&Policy::default())).collect();
    assert_eq!(apply_plan(store, &plans[3]).await, ApplyOutcome::Duplicate, "a kept event again");
    assert_eq!(apply_plan(store, &plans[1]).await, ApplyOutcome::Applied, "a pruned event again");
    let app = stats_of(store, &repo(DEFAULT_HOST, "app")).await;
    assert_eq!(app.pull_count, 3, "a pruned event applied again counts again");
    assert_eq!(log_ids(store, EventQuery::default()).await, ["n3", "n2", "n1", "o2"], "the log at the end");
}

/// Old entries in one log: more than any store removes in one slice (1,000 each), and not
/// a multiple of it.
const MANY: usize = 2_500;

/// A log of 2,500 old entries and a few newer ones (delivered 32 at a time) is pruned
/// whole by one call, however the store slices the work, and the newer ones stay.
pub async fn a_log_larger_than_a_prune_slice_is_pruned_whole_by_one_call(store: &dyn Storage) {
    let policy = Policy::default();
    let l1 = test_digest(0x11);
    let plans: Vec<_> = (0..MANY + 3)
        .map(|i| {
            let at = if i < MANY { time_micros(i as i64) } else { time(3600 + i as i64) };
            EventBuilder::pull(&format!("e{i:05}"), at, "app").blob(&l1, 100).plan(&policy)
        })
        .collect();
    let outcomes: Vec<_> =
        stream::iter(&plans).map(|plan| store.apply(plan)).buffer_unordered(32).collect().await;
    for outcome in outcomes {
        assert_eq!(outcome.expect("apply"), ApplyOutcome::Applied, "a first delivery");
    }
    assert_eq!(store.prune_events(time(3600)).await.expect("prune"), MANY as u64, "entries pruned");
    assert_eq!(
        log_ids(store, EventQuery::default()).await,
        ["e02502", "e02501", "e02500"],
        "the log after pruning"
    );
    assert_eq!(store.prune_events(time(3600)).await.expect("prune"), 0, "a second prune");
}
