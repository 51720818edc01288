//! The clean-up question: which images nobody has used since an instant.

use super::{inventory_of, read_walked_list};
use crate::query::{InventoryItem, LiveTagFilter, PageRequest, UnusedItem, UnusedQuery};
use crate::testkit::builder::{EventBuilder, apply_all, test_digest, time};
use crate::{Policy, Storage, Timestamp};

const HOST: &str = "unused.test";
const APP: &str = "team/app";
const WEB: &str = "team/web";

/// The tags unused since `since`, of `registry` or all, read with pages of `limit`.
async fn unused(
    store: &dyn Storage,
    registry: Option<&str>,
    since: Timestamp,
    limit: u32,
) -> Vec<UnusedItem> {
    walked(store, registry, since, limit, UnusedQuery::DEFAULT_WALK).await
}

/// The same, with pages that examine at most `walk` live tags each.
async fn walked(
    store: &dyn Storage,
    registry: Option<&str>,
    since: Timestamp,
    limit: u32,
    walk: u32,
) -> Vec<UnusedItem> {
    read_walked_list(&format!("unused since {since} of {registry:?}, walks of {walk}"), limit, async |p| {
        store.unused(&query(registry, since, p, walk)).await
    })
    .await
    .items
}

fn query(registry: Option<&str>, since: Timestamp, page: PageRequest, walk: u32) -> UnusedQuery {
    UnusedQuery {
        filter: LiveTagFilter { registry: registry.map(str::to_owned), ..LiveTagFilter::default() },
        since,
        page,
        walk,
    }
}

/// Every page of the unused list of `HOST` with `limit` and `walk`: the names of its items,
/// and whether a next page follows.
async fn pages(store: &dyn Storage, since: Timestamp, limit: u32, walk: u32) -> Vec<(Vec<String>, bool)> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(limit);
    loop {
        let got = store.unused(&query(Some(HOST), since, page.clone(), walk)).await.expect("unused reads");
        out.push((names(&got.items), got.next.is_some()));
        match got.next {
            Some(next) if out.len() < 50 => page.after = Some(next),
            _ => return out,
        }
    }
}

fn names(items: &[UnusedItem]) -> Vec<String> {
    items.iter().map(|u| format!("{}:{}", u.item.repository, u.item.tag)).collect()
}

/// A tag is unused since an instant when it was set before it and neither it (by name) nor
/// its digest in its repository had a counted pull at or after it. Each tag below is used in
/// one way: pulled by name before the instant (`a`), its digest pulled without the tag (`b`),
/// pulled by name and then moved to a digest never pulled (`c`), only `HEAD`-pulled, which the
/// default policy does not count (`d`), moved late (`e`), and a digest pulled in another
/// repository only (`web:x`). Every item also shows when its tag was set and last pulled.
pub async fn unused_since_lists_tags_neither_set_nor_pulled_since(store: &dyn Storage) {
    let d = |n: u32| test_digest(0x700 + n);
    let push = |id: &str, s: i64, repository: &str, n: u32, tag: &str| {
        EventBuilder::push(id, time(s), repository).host(HOST).manifest(&d(n), 400).tag(tag)
    };
    let pull =
        |id: &str, s: i64, n: u32| EventBuilder::pull(id, time(s), APP).host(HOST).manifest(&d(n), 400);
    let events = vec![
        push("u-a", 10, APP, 1, "a"),
        push("u-b", 10, APP, 2, "b"),
        push("u-c", 10, APP, 3, "c"),
        push("u-d", 10, APP, 4, "d"),
        push("u-e", 10, APP, 5, "e"),
        push("u-f", 10, APP, 6, "f"),
        push("u-x", 10, WEB, 1, "x"),
        EventBuilder::delete("u-f-gone", time(12), APP).host(HOST).tag("f"),
        pull("u-a-pull", 20, 1).tag("a"),
        pull("u-b-pull", 40, 2),
        pull("u-c-pull", 40, 3).tag("c"),
        pull("u-d-head", 40, 4).tag("d").head(),
        push("u-c-move", 45, APP, 7, "c"),
        push("u-e-move", 50, APP, 8, "e"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let item = |repository: &str, tag: &str, n: u32, pushed: i64, pulled: Option<i64>| UnusedItem {
        item: InventoryItem {
            registry: HOST.to_owned(),
            repository: repository.parse().expect("repository name"),
            tag: tag.parse().expect("tag"),
            digest: d(n),
            media_type: Some(crate::media_type::OCI_MANIFEST.to_owned()),
        },
        pushed_at: time(pushed),
        last_pulled: pulled.map(time),
    };
    let everything = [
        item(APP, "a", 1, 10, Some(20)),
        item(APP, "b", 2, 10, Some(40)),
        item(APP, "c", 7, 45, Some(40)),
        item(APP, "d", 4, 10, None),
        item(APP, "e", 8, 50, None),
        item(WEB, "x", 1, 10, None),
    ];
    let listed: Vec<InventoryItem> = everything.iter().map(|u| u.item.clone()).collect();
    assert_eq!(inventory_of(store, Some(HOST)).await, listed, "the inventory");

    let cases: [(i64, &[&str]); 8] = [
        (10, &[]),
        (15, &["team/app:d", "team/web:x"]),
        (20, &["team/app:d", "team/web:x"]),
        (21, &["team/app:a", "team/app:d", "team/web:x"]),
        (30, &["team/app:a", "team/app:d", "team/web:x"]),
        (40, &["team/app:a", "team/app:d", "team/web:x"]),
        (41, &["team/app:a", "team/app:b", "team/app:d", "team/web:x"]),
        (60, &["team/app:a", "team/app:b", "team/app:c", "team/app:d", "team/app:e", "team/web:x"]),
    ];
    for (since, expected) in cases {
        for limit in [1, 2, 1000] {
            let found = unused(store, Some(HOST), time(since), limit).await;
            assert_eq!(names(&found), expected, "unused since {since}s, pages of {limit}");
            let same: Vec<&UnusedItem> = everything
                .iter()
                .filter(|u| expected.contains(&&*format!("{}:{}", u.item.repository, u.item.tag)))
                .collect();
            assert_eq!(found.iter().collect::<Vec<_>>(), same, "items unused since {since}s");
            assert!(
                found.iter().all(|u| u.unused_since(time(since))),
                "every item unused since {since}s says so itself"
            );
        }
    }
    assert_eq!(
        names(&unused(store, None, time(30), 2).await),
        ["team/app:a", "team/app:d", "team/web:x"],
        "unused since 30s in all registries"
    );
    assert!(
        unused(store, Some("elsewhere.test"), time(60), 2).await.is_empty(),
        "another registry has nothing unused"
    );
}

/// A page examines at most its walk of live tags, in the inventory's order after its cursor,
/// and stops there with a next cursor at the last tag it examined, even when it found fewer
/// unused tags than its limit, or none. The same live tags as above: `team/app` a to e, then
/// `team/web:x`; since 15 only d and x are unused, since 21 a, d and x.
pub async fn a_page_of_unused_tags_examines_at_most_its_walk(store: &dyn Storage) {
    unused_since_lists_tags_neither_set_nor_pulled_since(store).await;
    let v = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();

    // Walks of 2 tags: a b | c d | e x | (none left).
    assert_eq!(
        pages(store, time(15), 2, 2).await,
        [(v(&[]), true), (v(&["team/app:d"]), true), (v(&["team/web:x"]), true), (v(&[]), false)],
        "since 15, pages of 2, walks of 2"
    );
    // Walks of 3, pages of 1: a b c (a kept, the walk ends at c) | d e x (d, and x is one
    // more than the page holds: the page ends at d) | e x (the tags run out first).
    assert_eq!(
        pages(store, time(21), 1, 3).await,
        [(v(&["team/app:a"]), true), (v(&["team/app:d"]), true), (v(&["team/web:x"]), false)],
        "since 21, pages of 1, walks of 3"
    );
    // A walk of five ends at e; one of exactly the six live tags ends at x, and says so
    // with a next page, which is empty (a walk does not look past its bound).
    assert_eq!(
        pages(store, time(21), 1000, 5).await,
        [(v(&["team/app:a", "team/app:d"]), true), (v(&["team/web:x"]), false)],
        "since 21, walks of 5"
    );
    assert_eq!(
        pages(store, time(21), 1000, 6).await,
        [(v(&["team/app:a", "team/app:d", "team/web:x"]), true), (v(&[]), false)],
        "since 21, a walk of exactly the six live tags"
    );
    assert_eq!(
        pages(store, time(21), 1000, 7).await,
        [(v(&["team/app:a", "team/app:d", "team/web:x"]), false)],
        "since 21, a walk longer than the list"
    );
    // Whatever the walk and the page, the pages add up to the same list; a walk of 0 is one.
    for walk in 0..=7 {
        for limit in [1, 2, 1000] {
            assert_eq!(
                names(&walked(store, Some(HOST), time(21), limit, walk).await),
                ["team/app:a", "team/app:d", "team/web:x"],
                "since 21, pages of {limit}, walks of {walk}"
            );
        }
    }
}
