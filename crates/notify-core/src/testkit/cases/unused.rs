//! The clean-up question: which images nobody has used since an instant.

use super::{inventory_of, read_list};
use crate::query::{InventoryItem, LiveTagFilter, UnusedItem, UnusedQuery};
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
    read_list(&format!("unused since {since} of {registry:?}"), limit, async |p| {
        store
            .unused(&UnusedQuery {
                filter: LiveTagFilter { registry: registry.map(str::to_owned), ..LiveTagFilter::default() },
                since,
                page: p,
            })
            .await
    })
    .await
    .items
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
