//! Pages and cursors of every list.

use crate::query::{
    EventQuery, InventoryQuery, LiveTagFilter, MAX_PAGE_SIZE, Page, QuarantineRecord, RepositoryQuery,
};
use crate::testkit::builder::{DEFAULT_HOST, EventBuilder, apply_all, test_digest, time, time_micros};
use crate::{Cursor, PageRequest, Policy, Storage, StorageError};

use super::{check_paging, repo, tag};

fn push(id: &str, seconds: i64, host: &str, repository: &str, t: &str) -> EventBuilder {
    EventBuilder::push(id, time(seconds), repository).host(host).manifest(&test_digest(1), 400).tag(t)
}

fn record(key: &str, seconds: i64) -> QuarantineRecord {
    QuarantineRecord::new(Some(key), format!("{{\"id\":\"{key}\"}}"), "test".to_owned(), None, time(seconds))
}

async fn quarantine_all(store: &dyn Storage, records: &[QuarantineRecord]) {
    for r in records {
        store.quarantine(r).await.unwrap_or_else(|e| panic!("quarantine of {} failed: {e}", r.key));
    }
}

/// Every list (repositories, tags, tag history, events, inventory, quarantine) read with limit
/// 1 and limit 2 gives every item once, in order, in full pages with a next cursor and a last
/// page without. Names sort by bytes (`-` < `.` < `/` < digits < upper case < `_` < lower
/// case), not by a locale's collation.
pub async fn every_list_pages_with_limits_one_and_two_in_byte_order(store: &dyn Storage) {
    let h = DEFAULT_HOST;
    let mut events = vec![
        push("repo-ab", 1, h, "ab", "v"),
        push("repo-a_b", 2, h, "a_b", "v"),
        push("repo-a0", 3, h, "a0", "v"),
        push("repo-a/b", 4, h, "a/b", "v"),
        push("repo-a.b", 5, h, "a.b", "v"),
        push("repo-a-b", 6, h, "a-b", "v"),
        push("repo-zz", 7, "registry.other", "zz", "v"),
    ];
    for (i, t) in ["_x", "Latest", "10", "1.0", "1-0"].iter().enumerate() {
        events.push(push(&format!("tag-{t}"), 10 + i as i64, h, "ab", t));
    }
    events.push(push("latest-1", 50, h, "ab", "latest"));
    events.push(EventBuilder::push("latest-2", time(51), "ab").manifest(&test_digest(2), 400).tag("latest"));
    events.push(push("latest-3", 52, h, "ab", "latest"));
    apply_all(store, &events, &Policy::default()).await;
    quarantine_all(store, &[record("q-mid", 20), record("q-new", 30), record("q-old", 10)]).await;

    let repositories = [
        "registry.other/zz",
        "registry.test/a-b",
        "registry.test/a.b",
        "registry.test/a/b",
        "registry.test/a0",
    ];
    let repositories: Vec<String> = repositories
        .iter()
        .chain(&["registry.test/a_b", "registry.test/ab"])
        .map(|s| s.to_string())
        .collect();
    check_paging(
        "repositories",
        &repositories,
        |r: &crate::query::RepositorySummary| format!("{}/{}", r.registry, r.repository),
        async |p| store.repositories(&RepositoryQuery { page: p, ..RepositoryQuery::default() }).await,
    )
    .await;

    let ab = repo(h, "ab");
    let tags = ["1-0", "1.0", "10", "Latest", "_x", "latest", "v"].map(tag);
    check_paging(
        "tags of ab",
        &tags,
        |t: &crate::query::TagSummary| t.tag.clone(),
        async |p| store.tags(&ab, &p).await,
    )
    .await;

    let latest = tag("latest");
    check_paging(
        "history of ab:latest",
        &["latest-3", "latest-2", "latest-1"],
        |e: &crate::query::TagHistoryEntry| e.event_id.clone(),
        async |p| store.tag_history(&ab, &latest, &p).await,
    )
    .await;

    let log = [
        "latest-3",
        "latest-2",
        "latest-1",
        "tag-1-0",
        "tag-1.0",
        "tag-10",
        "tag-Latest",
        "tag-_x",
        "repo-zz",
        "repo-a-b",
        "repo-a.b",
        "repo-a/b",
        "repo-a0",
        "repo-a_b",
        "repo-ab",
    ];
    check_paging(
        "events",
        &log,
        |e: &crate::LogEntry| e.id.clone(),
        async |p| store.events(&EventQuery { page: p, ..EventQuery::default() }).await,
    )
    .await;

    let inventory = [
        "registry.other/zz:v",
        "registry.test/a-b:v",
        "registry.test/a.b:v",
        "registry.test/a/b:v",
        "registry.test/a0:v",
        "registry.test/a_b:v",
        "registry.test/ab:1-0",
        "registry.test/ab:1.0",
        "registry.test/ab:10",
        "registry.test/ab:Latest",
        "registry.test/ab:_x",
        "registry.test/ab:latest",
        "registry.test/ab:v",
    ];
    check_paging(
        "inventory",
        &inventory,
        |i: &crate::query::InventoryItem| format!("{}/{}:{}", i.registry, i.repository, i.tag),
        async |p| store.inventory(&InventoryQuery { filter: LiveTagFilter::default(), page: p }).await,
    )
    .await;

    check_paging(
        "quarantine",
        &["id:q-new", "id:q-mid", "id:q-old"],
        |r: &QuarantineRecord| r.key.clone(),
        async |p| store.quarantined(&p).await,
    )
    .await;
}

/// Asks for a page after `cursor`, expecting success.
async fn next_page<T>(
    what: &str,
    cursor: &Option<Cursor>,
    fetch: impl AsyncFn(PageRequest) -> Result<Page<T>, StorageError>,
) -> Page<T> {
    let cursor = cursor.clone().unwrap_or_else(|| panic!("{what}: expected a next cursor"));
    fetch(PageRequest { after: Some(cursor), limit: 2 }).await.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn keys<T, K>(page: &Page<T>, key: impl Fn(&T) -> K) -> (Vec<K>, bool) {
    (page.items.iter().map(key).collect(), page.next.is_some())
}

/// A cursor is a position, not a snapshot: items added before it are not shown after it, items
/// added after it are, and the same cursor used twice gives the same page. Checked on every
/// list, with new events arriving between the pages, including one at the cursor's own time.
pub async fn a_cursor_stays_valid_and_stable_while_new_events_arrive(store: &dyn Storage) {
    let policy = Policy::default();
    let h = DEFAULT_HOST;

    // Repositories.
    apply_all(
        store,
        &[push("b", 1, h, "repo-b", "v"), push("d", 2, h, "repo-d", "v"), push("f", 3, h, "repo-f", "v")],
        &policy,
    )
    .await;
    let only_h = |p| RepositoryQuery { registry: Some(h.to_owned()), name: None, page: p };
    let fetch = async |p| store.repositories(&only_h(p)).await;
    let first = fetch(PageRequest::first(2)).await.expect("repositories");
    let name = |r: &crate::query::RepositorySummary| r.repository.to_string();
    assert_eq!(
        keys(&first, name),
        (vec!["repo-b".to_owned(), "repo-d".to_owned()], true),
        "repositories, page 1"
    );
    apply_all(
        store,
        &[push("a", 4, h, "repo-a", "v"), push("c", 5, h, "repo-c", "v"), push("g", 6, h, "repo-g", "v")],
        &policy,
    )
    .await;
    let second = next_page("repositories", &first.next, &fetch).await;
    assert_eq!(
        keys(&second, name),
        (vec!["repo-f".to_owned(), "repo-g".to_owned()], false),
        "repositories, page 2"
    );
    assert_eq!(next_page("repositories", &first.next, &fetch).await, second, "repositories, page 2 again");

    // Tags.
    let o = "other.test";
    apply_all(
        store,
        &[push("t-b", 1, o, "app", "b"), push("t-d", 2, o, "app", "d"), push("t-f", 3, o, "app", "f")],
        &policy,
    )
    .await;
    let app = repo(o, "app");
    let fetch = async |p: PageRequest| store.tags(&app, &p).await;
    let first = fetch(PageRequest::first(2)).await.expect("tags");
    let t = |s: &crate::query::TagSummary| s.tag.to_string();
    assert_eq!(keys(&first, t), (vec!["b".to_owned(), "d".to_owned()], true), "tags, page 1");
    apply_all(store, &[push("t-a", 4, o, "app", "a"), push("t-e", 5, o, "app", "e")], &policy).await;
    let second = next_page("tags", &first.next, &fetch).await;
    assert_eq!(keys(&second, t), (vec!["e".to_owned(), "f".to_owned()], false), "tags, page 2");

    // Tag history.
    apply_all(
        store,
        &[push("h-10", 10, o, "app", "h"), push("h-20", 20, o, "app", "h"), push("h-30", 30, o, "app", "h")],
        &policy,
    )
    .await;
    let h_tag = tag("h");
    let fetch = async |p: PageRequest| store.tag_history(&app, &h_tag, &p).await;
    let first = fetch(PageRequest::first(2)).await.expect("tag history");
    let id = |e: &crate::query::TagHistoryEntry| e.event_id.clone();
    assert_eq!(keys(&first, id), (vec!["h-30".to_owned(), "h-20".to_owned()], true), "history, page 1");
    // "h-20b" sorts after "h-20": at the same time it is newer, so before the cursor.
    apply_all(
        store,
        &[push("h-40", 40, o, "app", "h"), push("h-20b", 20, o, "app", "h"), push("h-15", 15, o, "app", "h")],
        &policy,
    )
    .await;
    let second = next_page("history", &first.next, &fetch).await;
    assert_eq!(keys(&second, id), (vec!["h-15".to_owned(), "h-10".to_owned()], false), "history, page 2");

    // Inventory.
    let i = "inv.test";
    apply_all(
        store,
        &[push("i-b", 1, i, "r", "b"), push("i-d", 2, i, "r", "d"), push("i-f", 3, i, "r", "f")],
        &policy,
    )
    .await;
    let fetch = async |p| {
        store.inventory(&InventoryQuery { filter: LiveTagFilter::registry(i.to_owned()), page: p }).await
    };
    let first = fetch(PageRequest::first(2)).await.expect("inventory");
    let item = |x: &crate::query::InventoryItem| format!("{}:{}", x.repository, x.tag);
    assert_eq!(keys(&first, item), (vec!["r:b".to_owned(), "r:d".to_owned()], true), "inventory, page 1");
    apply_all(store, &[push("i-c", 4, i, "r", "c"), push("i-e", 5, i, "r", "e")], &policy).await;
    let second = next_page("inventory", &first.next, &fetch).await;
    assert_eq!(keys(&second, item), (vec!["r:e".to_owned(), "r:f".to_owned()], false), "inventory, page 2");

    // Quarantine.
    quarantine_all(store, &[record("q10", 10), record("q20", 20), record("q30", 30)]).await;
    let fetch = async |p: PageRequest| store.quarantined(&p).await;
    let first = fetch(PageRequest::first(2)).await.expect("quarantine");
    let key = |r: &QuarantineRecord| r.key.clone();
    assert_eq!(
        keys(&first, key),
        (vec!["id:q30".to_owned(), "id:q20".to_owned()], true),
        "quarantine, page 1"
    );
    quarantine_all(store, &[record("q25", 25), record("q05", 5)]).await;
    let second = next_page("quarantine", &first.next, &fetch).await;
    assert_eq!(
        keys(&second, key),
        (vec!["id:q10".to_owned(), "id:q05".to_owned()], false),
        "quarantine, page 2"
    );

    // Events, filtered by registry.
    let s = "stream.test";
    let stream: Vec<EventBuilder> = (10..15).map(|n| push(&format!("e{n}"), n, s, "log", "v")).collect();
    apply_all(store, &stream, &policy).await;
    let query = |p| EventQuery { registry: Some(s.to_owned()), page: p, ..EventQuery::default() };
    let fetch = async |p| store.events(&query(p)).await;
    let first = fetch(PageRequest::first(2)).await.expect("events");
    let id = |e: &crate::LogEntry| e.id.clone();
    assert_eq!(keys(&first, id), (vec!["e14".to_owned(), "e13".to_owned()], true), "events, page 1");
    // "e12-late" > "e12": at the same time it comes first, newest first.
    apply_all(
        store,
        &[push("e20", 20, s, "log", "v"), push("e05", 5, s, "log", "v"), push("e12-late", 12, s, "log", "v")],
        &policy,
    )
    .await;
    let second = next_page("events", &first.next, &fetch).await;
    assert_eq!(keys(&second, id), (vec!["e12-late".to_owned(), "e12".to_owned()], true), "events, page 2");
    assert_eq!(next_page("events", &first.next, &fetch).await, second, "events, page 2 again");
    let third = next_page("events", &second.next, &fetch).await;
    assert_eq!(keys(&third, id), (vec!["e11".to_owned(), "e10".to_owned()], true), "events, page 3");
    let fourth = next_page("events", &third.next, &fetch).await;
    assert_eq!(keys(&fourth, id), (vec!["e05".to_owned()], false), "events, page 4");
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Cursors that no list produced are refused with [`StorageError::InvalidCursor`] by every list,
/// whether or not it has items: non-hex text, odd length, hex of non-JSON, JSON of the wrong
/// shape or arity, time keys that are not integers or do not fit.
pub async fn garbage_cursors_are_invalid_cursor_errors_on_every_list(store: &dyn Storage) {
    apply_all(store, &[push("only", 1, DEFAULT_HOST, "team/app", "v")], &Policy::default()).await;
    quarantine_all(store, &[record("q", 1)]).await;

    let mut any_list = vec![
        "".to_owned(),
        "zz".to_owned(),
        "abc".to_owned(),
        "not a cursor at all".to_owned(),
        "'; DROP TABLE events; --".to_owned(),
        hex("not json"),
        hex("{\"a\":1}"),
        hex("[]"),
        hex("[1,2]"),
        hex("[\"a\",\"b\",\"c\",\"d\"]"),
        "ab".repeat(5000),
    ];
    any_list.push(format!("{}zz", &hex("[\"a\"]")));
    let time_lists =
        [hex("[\"not-a-number\",\"x\"]"), hex("[\"99999999999999999999999\",\"x\"]"), hex("[\"1.5\",\"x\"]")];

    let app = repo(DEFAULT_HOST, "team/app");
    let nowhere = repo("nowhere.test", "none");
    let v = tag("v");
    let never = tag("never");
    for garbage in any_list.iter().chain(&time_lists) {
        let page = PageRequest { after: Some(Cursor::new(garbage.clone())), limit: 10 };
        let time_only = time_lists.contains(garbage);
        let expect_invalid = |what: &str, result: Result<(), StorageError>| match result {
            Err(StorageError::InvalidCursor(_)) => {}
            other => panic!("{what} with cursor {garbage:?}: expected InvalidCursor, got {other:?}"),
        };
        let events = |q: EventQuery| EventQuery { page: page.clone(), ..q };
        expect_invalid("events", store.events(&events(EventQuery::default())).await.map(drop));
        let none = EventQuery { registry: Some("nowhere.test".to_owned()), ..EventQuery::default() };
        expect_invalid("events matching nothing", store.events(&events(none)).await.map(drop));
        expect_invalid("tag history", store.tag_history(&app, &v, &page).await.map(drop));
        expect_invalid("history of an unknown tag", store.tag_history(&app, &never, &page).await.map(drop));
        expect_invalid("quarantine", store.quarantined(&page).await.map(drop));
        if time_only {
            continue;
        }
        let repos = |registry: Option<&str>| RepositoryQuery {
            registry: registry.map(str::to_owned),
            name: None,
            page: page.clone(),
        };
        expect_invalid("repositories", store.repositories(&repos(None)).await.map(drop));
        expect_invalid(
            "repositories of nowhere",
            store.repositories(&repos(Some("nowhere.test"))).await.map(drop),
        );
        expect_invalid("tags", store.tags(&app, &page).await.map(drop));
        expect_invalid("tags of an unknown repository", store.tags(&nowhere, &page).await.map(drop));
        let inventory = |registry: Option<&str>| InventoryQuery {
            filter: LiveTagFilter { registry: registry.map(str::to_owned), ..LiveTagFilter::default() },
            page: page.clone(),
        };
        expect_invalid("inventory", store.inventory(&inventory(None)).await.map(drop));
        expect_invalid(
            "inventory of nowhere",
            store.inventory(&inventory(Some("nowhere.test"))).await.map(drop),
        );
        let held = test_digest(1);
        let unknown = test_digest(0xdead);
        expect_invalid("repositories of a digest", store.digest_repositories(&held, &page).await.map(drop));
        expect_invalid(
            "repositories of an unknown digest",
            store.digest_repositories(&unknown, &page).await.map(drop),
        );
        expect_invalid("referrers of a digest", store.digest_referrers(&held, &page).await.map(drop));
        expect_invalid(
            "referrers of an unknown digest",
            store.digest_referrers(&unknown, &page).await.map(drop),
        );
    }
    // A referrer's key is a digest and a reference kind: two strings are not enough.
    let digest = test_digest(1).to_string();
    for garbage in [hex("[\"a\",\"layer\"]"), hex(&format!("[\"{digest}\",\"bogus\"]"))] {
        let page = PageRequest { after: Some(Cursor::new(garbage.clone())), limit: 10 };
        match store.digest_referrers(&test_digest(1), &page).await {
            Err(StorageError::InvalidCursor(_)) => {}
            other => panic!("referrers with cursor {garbage:?}: expected InvalidCursor, got {other:?}"),
        }
    }
}

/// An inventory page larger than a store's internal batches: 60 repositories with none to
/// three tags each, read whole and in pages of 20, 7 and 1000.
pub async fn inventory_pages_span_many_repositories_in_order(store: &dyn Storage) {
    let h = "many.test";
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for r in 0..60 {
        let name = format!("r{r:02}");
        let tags = r % 4;
        if tags == 0 {
            events.push(
                EventBuilder::push(&format!("m-{name}"), time(r), &name)
                    .host(h)
                    .manifest(&test_digest(2), 400),
            );
        }
        for t in 0..tags {
            events.push(push(&format!("m-{name}-{t}"), r, h, &name, &format!("t{t}")));
            expected.push(format!("{name}:t{t}"));
        }
    }
    apply_all(store, &events, &Policy::default()).await;
    let item = |x: &crate::query::InventoryItem| format!("{}:{}", x.repository, x.tag);
    for limit in [1000u32, 20, 7] {
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .inventory(&InventoryQuery {
                    filter: LiveTagFilter::registry(h.to_owned()),
                    page: PageRequest { after, limit },
                })
                .await
                .expect("inventory");
            assert!(page.items.len() <= limit as usize, "a page of {limit} holds {}", page.items.len());
            let full = page.items.len() == limit as usize;
            listed.extend(page.items.iter().map(item));
            match page.next {
                Some(next) => {
                    assert!(full, "a page of {limit} with a next cursor is full");
                    after = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(listed, expected, "inventory in pages of {limit}");
    }
}

/// A limit of 0 gives one item, a limit above 1000 (up to `u32::MAX`) gives 1000: checked on
/// an event log and a quarantine of 1001 entries each, and the limits 0 and `u32::MAX` on every
/// other list.
pub async fn page_limits_are_clamped_to_one_and_a_thousand(store: &dyn Storage) {
    let many: Vec<EventBuilder> = (0..=i64::from(MAX_PAGE_SIZE))
        .map(|i| {
            EventBuilder::new(&format!("ev-{i:04}"), "replicate", time_micros(i), "bulk/log")
                .digest(&test_digest(1))
        })
        .collect();
    apply_all(store, &many, &Policy::default()).await;
    let events = |limit: u32, after: Option<Cursor>| {
        let page = PageRequest { after, limit };
        async move { store.events(&EventQuery { page, ..EventQuery::default() }).await.expect("events") }
    };
    let one = events(0, None).await;
    assert_eq!(keys(&one, |e| e.id.clone()), (vec!["ev-1000".to_owned()], true), "events with limit 0");
    for limit in [MAX_PAGE_SIZE + 1, u32::MAX] {
        let page = events(limit, None).await;
        assert_eq!((page.items.len(), page.next.is_some()), (1000, true), "events with limit {limit}");
        assert_eq!(
            (page.items[0].id.as_str(), page.items[999].id.as_str()),
            ("ev-1000", "ev-0001"),
            "limit {limit}"
        );
        let rest = events(limit, page.next).await;
        assert_eq!(keys(&rest, |e| e.id.clone()), (vec!["ev-0000".to_owned()], false), "after 1000 events");
    }

    let records: Vec<QuarantineRecord> =
        (0..=i64::from(MAX_PAGE_SIZE)).map(|i| record(&format!("q-{i:04}"), i)).collect();
    quarantine_all(store, &records).await;
    let quarantined = |limit: u32, after: Option<Cursor>| async move {
        store.quarantined(&PageRequest { after, limit }).await.expect("quarantine")
    };
    let one = quarantined(0, None).await;
    assert_eq!(
        keys(&one, |r| r.key.clone()),
        (vec!["id:q-1000".to_owned()], true),
        "quarantine with limit 0"
    );
    for limit in [MAX_PAGE_SIZE + 1, u32::MAX] {
        let page = quarantined(limit, None).await;
        assert_eq!((page.items.len(), page.next.is_some()), (1000, true), "quarantine with limit {limit}");
        let rest = quarantined(limit, page.next).await;
        assert_eq!(
            keys(&rest, |r| r.key.clone()),
            (vec!["id:q-0000".to_owned()], false),
            "after 1000 records"
        );
    }

    let policy = Policy::default();
    let h = DEFAULT_HOST;
    let pushes = [
        push("p1", 1, h, "team/a", "x"),
        push("p2", 2, h, "team/a", "x"),
        push("p3", 3, h, "team/a", "z"),
        push("p4", 4, h, "team/b", "y"),
    ];
    apply_all(store, &pushes, &policy).await;
    let a = repo(h, "team/a");
    let x = tag("x");
    // (list, items with limit u32::MAX); limit 0 always gives one item and a next cursor.
    for limit in [0, u32::MAX] {
        let page = PageRequest::first(limit);
        let mut answers: Vec<(&str, usize, bool, usize)> = Vec::new();
        let r =
            store.repositories(&RepositoryQuery { page: page.clone(), ..RepositoryQuery::default() }).await;
        let r = r.expect("repositories");
        answers.push(("repositories", r.items.len(), r.next.is_some(), 2));
        let t = store.tags(&a, &page).await.expect("tags");
        answers.push(("tags", t.items.len(), t.next.is_some(), 2));
        let hist = store.tag_history(&a, &x, &page).await.expect("tag history");
        answers.push(("tag history", hist.items.len(), hist.next.is_some(), 2));
        let inv = store
            .inventory(&InventoryQuery { filter: LiveTagFilter::default(), page: page.clone() })
            .await
            .expect("inventory");
        answers.push(("inventory", inv.items.len(), inv.next.is_some(), 3));
        for (what, len, next, all) in answers {
            let expected = if limit == 0 { (1, true) } else { (all, false) };
            assert_eq!((len, next), expected, "{what} with limit {limit}");
        }
    }
}
