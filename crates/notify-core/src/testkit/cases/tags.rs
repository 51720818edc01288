//! Tags: moves, deletes, and what content and repository deletes do to them.

use super::{
    digest_info, history_of, inventory_of, read_list, repo, repositories_of, some, stats_of, tag, tags_of,
    tombstone,
};
use crate::media_type::OCI_MANIFEST;
use crate::query::{Cursor, PageRequest, PastTag, RepositoryQuery, TagHistoryEntry, TagSummary};
use crate::testkit::builder::{DEFAULT_HOST, EventBuilder, apply_all, test_digest, time, time_micros};
use crate::{ContentKind, Digest, Policy, Storage, StorageError, Timestamp};

const REPO: &str = "team/app";

fn set(
    at: Timestamp,
    id: &str,
    actor: Option<&str>,
    now: &Digest,
    previous: Option<&Digest>,
) -> TagHistoryEntry {
    TagHistoryEntry {
        at,
        event_id: id.to_owned(),
        actor: actor.map(str::to_owned),
        digest: Some(now.clone()),
        previous: previous.cloned(),
    }
}

fn removed(at: Timestamp, id: &str, actor: Option<&str>, previous: Option<&Digest>) -> TagHistoryEntry {
    TagHistoryEntry {
        at,
        event_id: id.to_owned(),
        actor: actor.map(str::to_owned),
        digest: None,
        previous: previous.cloned(),
    }
}

fn summary(
    t: &str,
    d: &Digest,
    pushed_at: Timestamp,
    pushed_by: Option<&str>,
    push_count: u64,
) -> TagSummary {
    TagSummary {
        tag: tag(t),
        digest: d.clone(),
        kind: ContentKind::Manifest,
        media_type: some(OCI_MANIFEST),
        pushed_at,
        pushed_by: pushed_by.map(str::to_owned),
        push_count,
        pull_count: 0,
        last_pulled: None,
    }
}

fn push_tag(id: &str, seconds: i64, repository: &str, d: &Digest, t: &str) -> EventBuilder {
    EventBuilder::push(id, time(seconds), repository).manifest(d, 400).tag(t)
}

/// A tag pushed four times to three digests, delivered out of order, lists its history newest
/// first with the digest it pointed at before each change, and points at the newest; a fifth
/// push at the same microsecond as the newest wins by its greater event id.
pub async fn tag_moves_are_listed_newest_first_with_the_previous_digest(store: &dyn Storage) {
    let (m1, m2, m3) = (test_digest(1), test_digest(2), test_digest(3));
    let r = repo(DEFAULT_HOST, REPO);
    let events = [
        push_tag("tag-3", 30, REPO, &m3, "stable"),
        push_tag("tag-1", 10, REPO, &m1, "stable").actor("alice"),
        push_tag("tag-4", 40, REPO, &m1, "stable").actor("alice"),
        push_tag("tag-2", 20, REPO, &m2, "stable").actor("bob"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    assert_eq!(
        history_of(store, &r, "stable").await,
        vec![
            set(time(40), "tag-4", Some("alice"), &m1, Some(&m3)),
            set(time(30), "tag-3", None, &m3, Some(&m2)),
            set(time(20), "tag-2", Some("bob"), &m2, Some(&m1)),
            set(time(10), "tag-1", Some("alice"), &m1, None),
        ],
        "history of stable"
    );
    assert_eq!(tags_of(store, &r).await, vec![summary("stable", &m1, time(40), Some("alice"), 4)], "tags");

    // "tag-4" < "tag-4b": same time, the greater id is the later change.
    apply_all(store, &[push_tag("tag-4b", 40, REPO, &m2, "stable").actor("carol")], &Policy::default()).await;
    let history = history_of(store, &r, "stable").await;
    assert_eq!(
        history[..2],
        [
            set(time(40), "tag-4b", Some("carol"), &m2, Some(&m1)),
            set(time(40), "tag-4", Some("alice"), &m1, Some(&m3))
        ],
        "history of stable after a push at the same time"
    );
    assert_eq!(history.len(), 5, "history length");
    assert_eq!(tags_of(store, &r).await, vec![summary("stable", &m2, time(40), Some("carol"), 5)], "tags");
    assert_eq!(digest_info(store, m1.as_str()).await.repositories[0].tags, vec![], "tags at m1");
    assert_eq!(digest_info(store, m2.as_str()).await.repositories[0].tags, vec![tag("stable")], "tags at m2");
}

/// A tag's history read as it stood at an instant starts with the change in force then: a
/// change at that very microsecond is in force, one a microsecond later is not, two changes
/// at one instant are in the order of their ids, and the listing pages back from there.
pub async fn a_tag_history_read_at_an_instant_starts_with_the_change_in_force_then(store: &dyn Storage) {
    let (m1, m2, m3) = (test_digest(1), test_digest(2), test_digest(3));
    let r = repo(DEFAULT_HOST, REPO);
    let events = [
        EventBuilder::push("h-5", time_micros(40_000_001), REPO).manifest(&m2, 400).tag("stable"),
        push_tag("h-4b", 40, REPO, &m1, "stable"),
        push_tag("h-1", 10, REPO, &m1, "stable").actor("alice"),
        EventBuilder::delete("h-3", time(30), REPO).tag("stable").actor("bob"),
        push_tag("h-2", 20, REPO, &m2, "stable"),
        push_tag("h-4", 40, REPO, &m3, "stable"),
        push_tag("o-1", 15, REPO, &m3, "other"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let h5 = set(time_micros(40_000_001), "h-5", None, &m2, Some(&m1));
    let h4b = set(time(40), "h-4b", None, &m1, Some(&m3));
    let h4 = set(time(40), "h-4", None, &m3, None);
    let h3 = removed(time(30), "h-3", Some("bob"), Some(&m2));
    let h2 = set(time(20), "h-2", None, &m2, Some(&m1));
    let h1 = set(time(10), "h-1", Some("alice"), &m1, None);
    let stable = tag("stable");
    let page = async |page: PageRequest| store.tag_history(&r, &stable, &page).await;
    let at = async |t: Timestamp| {
        let what = format!("history of stable at {t}");
        let (mut items, mut next) = (Vec::new(), Some(TagHistoryEntry::page_at(t, PageRequest::first(2))));
        while let Some(request) = next.take() {
            let got = page(request).await.expect(&what);
            assert!(got.items.len() <= 2, "{what}: a page of {} items", got.items.len());
            items.extend(got.items);
            next = got.next.map(|c| TagHistoryEntry::page_at(t, PageRequest { after: Some(c), limit: 2 }));
        }
        let whole = page(TagHistoryEntry::page_at(t, PageRequest::first(1000))).await.expect(&what);
        assert_eq!(whole.items, items, "{what}: pages of 2 against one page");
        items
    };
    assert_eq!(at(time(5)).await, vec![], "before the first push");
    assert_eq!(at(time(10)).await, vec![h1.clone()], "at the first push");
    assert_eq!(at(time(29)).await, vec![h2.clone(), h1.clone()], "before the delete");
    assert_eq!(at(time(30)).await, vec![h3.clone(), h2.clone(), h1.clone()], "at the delete");
    let at_40 = vec![h4b.clone(), h4.clone(), h3.clone(), h2.clone(), h1.clone()];
    assert_eq!(at(time(40)).await, at_40, "two pushes at one instant, the next a microsecond later");
    let all = [vec![h5], at_40].concat();
    assert_eq!(at(time_micros(40_000_001)).await, all, "at the last push");
    assert_eq!(at(time(1_000_000)).await, all, "long after");
    assert_eq!(history_of(store, &r, "stable").await, all, "the whole history");

    // A cursor further back than the instant is kept; one before it is not.
    let next = page(TagHistoryEntry::page_at(time(40), PageRequest::first(2)))
        .await
        .expect("history at 40")
        .next
        .expect("more than two changes at 40");
    let from =
        |t: Timestamp| TagHistoryEntry::page_at(t, PageRequest { after: Some(next.clone()), limit: 10 });
    let items = async |p: PageRequest| page(p).await.expect("history").items;
    assert_eq!(
        items(from(time(50))).await,
        vec![h3.clone(), h2.clone(), h1.clone()],
        "the cursor is further back"
    );
    assert_eq!(items(from(time(20))).await, vec![h2, h1], "the instant is further back");
    let garbage =
        TagHistoryEntry::page_at(time(20), PageRequest { after: Some(Cursor::new("zz")), limit: 10 });
    assert!(
        matches!(page(garbage).await, Err(StorageError::InvalidCursor(_))),
        "a cursor that is no position is the store's to refuse"
    );
}

/// A repository's tags read as they stood at an instant: of every tag, the change in force
/// then when it set a digest; a tag deleted then is left out, one only pulled (no history)
/// never shows, two changes at one instant are decided by their ids, and another
/// repository's tags of the same names stay apart.
pub async fn a_repository_s_tags_read_at_an_instant_are_the_changes_in_force_then(store: &dyn Storage) {
    let (m1, m2, m3) = (test_digest(1), test_digest(2), test_digest(3));
    let r = repo(DEFAULT_HOST, REPO);
    let events = [
        push_tag("c-1b", 20, REPO, &m1, "c"),
        push_tag("a-2", 20, REPO, &m2, "a").actor("bob"),
        push_tag("a-1", 10, REPO, &m1, "a").actor("alice"),
        EventBuilder::delete("b-2", time(25), REPO).tag("b"),
        push_tag("b-1", 15, REPO, &m1, "b"),
        push_tag("b-3", 35, REPO, &m3, "b"),
        push_tag("c-1", 20, REPO, &m3, "c"),
        EventBuilder::push("e-1", time_micros(30_000_001), REPO).manifest(&m2, 400).tag("e"),
        EventBuilder::pull("d-pull", time(5), REPO).manifest(&m1, 400).tag("d"),
        push_tag("o-1", 1, "team/other", &m3, "a"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let past = |t: &str, d: &Digest, at: Timestamp, id: &str, actor: Option<&str>| PastTag {
        tag: tag(t),
        digest: d.clone(),
        set_at: at,
        event_id: id.to_owned(),
        actor: actor.map(str::to_owned),
    };
    let a1 = past("a", &m1, time(10), "a-1", Some("alice"));
    let a2 = past("a", &m2, time(20), "a-2", Some("bob"));
    let b1 = past("b", &m1, time(15), "b-1", None);
    let b3 = past("b", &m3, time(35), "b-3", None);
    let c = past("c", &m1, time(20), "c-1b", None);
    let e = past("e", &m2, time_micros(30_000_001), "e-1", None);
    let at = async |t: Timestamp| {
        read_list(&format!("tags of {REPO} at {t}"), 1, async |p| store.tags_at(&r, t, &p).await).await.items
    };
    assert_eq!(at(time(5)).await, vec![], "before the first push; d was only pulled");
    assert_eq!(at(time(10)).await, vec![a1.clone()], "at the first push");
    assert_eq!(at(time(15)).await, vec![a1, b1.clone()], "at 15");
    assert_eq!(at(time(20)).await, vec![a2.clone(), b1, c.clone()], "two pushes of c at 20");
    assert_eq!(at(time(25)).await, vec![a2.clone(), c.clone()], "b deleted at 25");
    assert_eq!(at(time(30)).await, vec![a2.clone(), c.clone()], "e a microsecond later");
    assert_eq!(at(time_micros(30_000_001)).await, vec![a2.clone(), c.clone(), e.clone()], "e");
    assert_eq!(at(time(1_000)).await, vec![a2.clone(), b3, c, e], "long after");
    let other = repo(DEFAULT_HOST, "team/other");
    let o = past("a", &m3, time(1), "o-1", None);
    assert_eq!(
        store.tags_at(&other, time(1_000), &PageRequest::first(10)).await.expect("tags_at").items,
        [o]
    );
    let nowhere = repo(DEFAULT_HOST, "no/such");
    assert_eq!(
        store.tags_at(&nowhere, time(1_000), &PageRequest::first(10)).await.expect("tags_at").items,
        []
    );
    let garbage = PageRequest { after: Some(Cursor::new("zz")), limit: 10 };
    assert!(
        matches!(store.tags_at(&r, time(20), &garbage).await, Err(StorageError::InvalidCursor(_))),
        "a garbage cursor"
    );
}

/// A tag delete removes the tag (not the content) and is a history entry; pushing the tag
/// again brings it back; a delete older than the re-push, arriving late, changes nothing but
/// the history.
pub async fn a_deleted_tag_comes_back_when_pushed_again(store: &dyn Storage) {
    let (m1, m2) = (test_digest(1), test_digest(2));
    let r = repo(DEFAULT_HOST, REPO);
    let delete_tag =
        |id: &str, seconds: i64| EventBuilder::delete(id, time(seconds), REPO).tag("1.0").actor("ci-bot");
    apply_all(store, &[push_tag("p1", 10, REPO, &m1, "1.0"), delete_tag("d1", 20)], &Policy::default()).await;

    assert_eq!(tags_of(store, &r).await, vec![], "tags after the delete");
    assert_eq!(inventory_of(store, None).await, vec![], "inventory after the delete");
    assert_eq!(
        history_of(store, &r, "1.0").await,
        vec![removed(time(20), "d1", Some("ci-bot"), Some(&m1)), set(time(10), "p1", None, &m1, None)],
        "history after the delete"
    );
    let stats = stats_of(store, &r).await;
    assert_eq!((stats.tag_count, stats.live_digests), (0, 1), "a tag delete deletes no content");
    let location = &digest_info(store, m1.as_str()).await.repositories[0];
    assert_eq!((location.live, location.tags.clone()), (true, vec![]), "m1 after its tag was deleted");

    apply_all(store, &[push_tag("p2", 30, REPO, &m2, "1.0")], &Policy::default()).await;
    assert_eq!(
        tags_of(store, &r).await,
        vec![summary("1.0", &m2, time(30), None, 2)],
        "tags after the re-push"
    );

    apply_all(store, &[delete_tag("d2", 25)], &Policy::default()).await;
    assert_eq!(
        tags_of(store, &r).await,
        vec![summary("1.0", &m2, time(30), None, 2)],
        "tags after a late delete"
    );
    assert_eq!(
        history_of(store, &r, "1.0").await,
        vec![
            set(time(30), "p2", None, &m2, None),
            removed(time(25), "d2", Some("ci-bot"), None),
            removed(time(20), "d1", Some("ci-bot"), Some(&m1)),
            set(time(10), "p1", None, &m1, None),
        ],
        "history with the late delete"
    );
}

/// Registries before 2.7 send only the manifest delete, no tag deletes: the tags pointing at
/// the deleted manifest disappear all the same (history unchanged), other tags stay; pushing
/// the manifest again by digest revives the content but not the old tags; pushing a tag again
/// does. A content delete older than the push it would hide changes nothing.
pub async fn a_manifest_delete_by_digest_hides_its_tags_without_a_tag_delete_event(store: &dyn Storage) {
    let (m1, m2) = (test_digest(1), test_digest(2));
    let r = repo(DEFAULT_HOST, REPO);
    let events = [
        push_tag("a", 10, REPO, &m1, "a"),
        push_tag("b", 11, REPO, &m1, "b"),
        push_tag("c", 12, REPO, &m2, "c"),
        EventBuilder::delete("del-m1", time(20), REPO).digest(&m1).actor("gc"),
        // Older than the push of m2 (12): does not hide tag c.
        EventBuilder::delete("del-m2-early", time(5), REPO).digest(&m2),
    ];
    apply_all(store, &events, &Policy::default()).await;

    assert_eq!(
        tags_of(store, &r).await,
        vec![summary("c", &m2, time(12), None, 1)],
        "tags after deleting m1"
    );
    assert_eq!(
        inventory_of(store, None).await.into_iter().map(|i| i.tag.to_string()).collect::<Vec<_>>(),
        vec!["c"],
        "inventory after deleting m1"
    );
    assert_eq!(history_of(store, &r, "a").await, vec![set(time(10), "a", None, &m1, None)], "history of a");
    let stats = stats_of(store, &r).await;
    assert_eq!((stats.tag_count, stats.live_digests), (1, 1), "tag count and live digests");
    let location = digest_info(store, m1.as_str()).await.repositories.remove(0);
    assert_eq!(
        (location.live, location.deleted, location.tags),
        (false, Some(tombstone(time(20), "del-m1", Some("gc"))), vec![]),
        "m1 after its delete"
    );
    let location = digest_info(store, m2.as_str()).await.repositories.remove(0);
    assert_eq!((location.live, location.deleted, location.tags), (true, None, vec![tag("c")]), "m2");

    apply_all(
        store,
        &[EventBuilder::push("m1-again", time(30), REPO).manifest(&m1, 400)],
        &Policy::default(),
    )
    .await;
    assert_eq!(
        tags_of(store, &r).await,
        vec![summary("c", &m2, time(12), None, 1)],
        "tags after m1 came back"
    );
    let location = digest_info(store, m1.as_str()).await.repositories.remove(0);
    assert_eq!((location.live, location.deleted, location.tags), (true, None, vec![]), "m1 pushed again");

    apply_all(store, &[push_tag("a-again", 40, REPO, &m1, "a")], &Policy::default()).await;
    assert_eq!(
        tags_of(store, &r).await,
        vec![summary("a", &m1, time(40), None, 2), summary("c", &m2, time(12), None, 1)],
        "tags after tag a was pushed again"
    );
}

/// A repository delete hides every tag and digest observed in the repository before it, keeps
/// counters and histories, and marks the repository deleted; what is pushed after it is live
/// and clears the mark. Other repositories are untouched.
pub async fn a_repository_delete_hides_what_was_seen_before_it_but_not_after(store: &dyn Storage) {
    let (l1, m1, m2) = (test_digest(0x11), test_digest(1), test_digest(2));
    let r = repo(DEFAULT_HOST, REPO);
    let other = repo(DEFAULT_HOST, "team/other");
    let events = [
        EventBuilder::push("blob", time(10), REPO).blob(&l1, 1000),
        push_tag("old", 11, REPO, &m1, "old"),
        push_tag("elsewhere", 12, "team/other", &m1, "x"),
        EventBuilder::delete("drop-repo", time(20), REPO).actor("admin"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let dropped = Some(tombstone(time(20), "drop-repo", Some("admin")));
    assert_eq!(tags_of(store, &r).await, vec![], "tags of the deleted repository");
    let inventory = async || {
        inventory_of(store, None)
            .await
            .into_iter()
            .map(|i| format!("{}:{}", i.repository, i.tag))
            .collect::<Vec<_>>()
    };
    assert_eq!(inventory().await, vec!["team/other:x"], "inventory after the delete");
    let summaries = repositories_of(store, RepositoryQuery::default()).await;
    assert_eq!(
        summaries
            .iter()
            .map(|s| (s.repository.to_string(), s.tag_count, s.deleted.clone()))
            .collect::<Vec<_>>(),
        vec![("team/app".to_owned(), 0, dropped.clone()), ("team/other".to_owned(), 1, None)],
        "repositories after the delete"
    );
    let stats = stats_of(store, &r).await;
    assert_eq!(
        (stats.tag_count, stats.live_digests, stats.push_count, stats.deleted.clone()),
        (0, 0, 1, dropped.clone()),
        "statistics of the deleted repository"
    );
    let locations = digest_info(store, m1.as_str()).await.repositories;
    assert_eq!(
        locations
            .iter()
            .map(|l| (l.repository.to_string(), l.live, l.deleted.clone(), l.tags.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("team/app".to_owned(), false, dropped.clone(), vec![]),
            ("team/other".to_owned(), true, None, vec![tag("x")])
        ],
        "locations of m1"
    );
    assert_eq!(
        history_of(store, &r, "old").await,
        vec![set(time(11), "old", None, &m1, None)],
        "history of old"
    );
    assert_eq!(
        tags_of(store, &other).await,
        vec![summary("x", &m1, time(12), None, 1)],
        "tags of team/other"
    );

    let after = [
        push_tag("new", 30, REPO, &m2, "new"),
        EventBuilder::push("blob-again", time(25), REPO).blob(&l1, 1000),
    ];
    apply_all(store, &after, &Policy::default()).await;
    assert_eq!(
        tags_of(store, &r).await,
        vec![summary("new", &m2, time(30), None, 1)],
        "tags pushed after the delete"
    );
    assert_eq!(inventory().await, vec!["team/app:new", "team/other:x"], "inventory after new pushes");
    let stats = stats_of(store, &r).await;
    assert_eq!(
        (stats.tag_count, stats.live_digests, stats.push_count, stats.deleted),
        (1, 2, 2, None),
        "statistics after new pushes"
    );
    let location = digest_info(store, l1.as_str()).await.repositories.remove(0);
    assert_eq!((location.live, location.deleted, location.first_seen), (true, None, Some(time(10))), "l1");
    let location = digest_info(store, m1.as_str()).await.repositories.remove(0);
    assert_eq!((location.live, location.deleted), (false, dropped), "m1 stays deleted in team/app");
}

/// Of two deletes of a manifest by digest, the newer one is in force whatever the order they
/// arrive in, each in a delivery of its own: a newer delete hides the manifest and the tags
/// pushed since the older one, and an older delete arriving late changes nothing.
pub async fn a_newer_manifest_delete_replaces_an_older_one_and_a_late_older_one_changes_nothing(
    store: &dyn Storage,
) {
    let m1 = test_digest(1);
    let r = repo(DEFAULT_HOST, REPO);
    let live = async || tags_of(store, &r).await.into_iter().map(|t| t.tag.to_string()).collect::<Vec<_>>();
    let m1_in_repo = async || {
        let location = digest_info(store, m1.as_str()).await.repositories.remove(0);
        (location.live, location.deleted)
    };
    let policy = Policy::default();

    apply_all(store, &[push_tag("first", 10, REPO, &m1, "a")], &policy).await;
    apply_all(store, &[EventBuilder::delete("del-1", time(20), REPO).digest(&m1).actor("gc")], &policy).await;
    assert_eq!(live().await, Vec::<String>::new(), "tags after the first delete");
    assert_eq!(
        m1_in_repo().await,
        (false, Some(tombstone(time(20), "del-1", Some("gc")))),
        "the first delete"
    );

    apply_all(store, &[push_tag("second", 30, REPO, &m1, "b")], &policy).await;
    assert_eq!(live().await, vec!["b"], "tags pushed after the first delete");
    assert_eq!(m1_in_repo().await, (true, None), "m1 pushed again");

    apply_all(store, &[EventBuilder::delete("del-2", time(40), REPO).digest(&m1).actor("ops")], &policy)
        .await;
    let newer = Some(tombstone(time(40), "del-2", Some("ops")));
    assert_eq!(live().await, Vec::<String>::new(), "tags after the newer delete");
    assert_eq!(m1_in_repo().await, (false, newer.clone()), "the newer delete is in force");

    apply_all(store, &[EventBuilder::delete("del-late", time(35), REPO).digest(&m1).actor("late")], &policy)
        .await;
    assert_eq!(m1_in_repo().await, (false, newer), "an older delete arriving late changes nothing");
    assert_eq!(live().await, Vec::<String>::new(), "tags after the late delete");

    apply_all(store, &[push_tag("third", 50, REPO, &m1, "c")], &policy).await;
    assert_eq!(live().await, vec!["c"], "tags pushed after the newer delete");
    assert_eq!(m1_in_repo().await, (true, None), "m1 pushed after the newer delete");
}

/// Of two repository deletes, the newer one is in force whatever the order they arrive in,
/// each in a delivery of its own: a newer delete hides what was pushed since the older one,
/// and an older delete arriving late changes nothing.
pub async fn a_newer_repository_delete_replaces_an_older_one_and_a_late_older_one_changes_nothing(
    store: &dyn Storage,
) {
    let (m1, m2, m3) = (test_digest(1), test_digest(2), test_digest(3));
    let r = repo(DEFAULT_HOST, REPO);
    let live = async || tags_of(store, &r).await.into_iter().map(|t| t.tag.to_string()).collect::<Vec<_>>();
    let deleted = async || stats_of(store, &r).await.deleted;
    let policy = Policy::default();

    apply_all(store, &[push_tag("first", 10, REPO, &m1, "a")], &policy).await;
    apply_all(store, &[EventBuilder::delete("drop-1", time(20), REPO).actor("admin")], &policy).await;
    assert_eq!(live().await, Vec::<String>::new(), "tags after the first delete");
    assert_eq!(deleted().await, Some(tombstone(time(20), "drop-1", Some("admin"))), "the first delete");

    apply_all(store, &[push_tag("second", 30, REPO, &m2, "b")], &policy).await;
    assert_eq!(live().await, vec!["b"], "tags pushed after the first delete");
    assert_eq!(deleted().await, None, "a push after the delete clears the mark");

    apply_all(store, &[EventBuilder::delete("drop-2", time(40), REPO).actor("ops")], &policy).await;
    let newer = Some(tombstone(time(40), "drop-2", Some("ops")));
    assert_eq!(live().await, Vec::<String>::new(), "tags after the newer delete");
    assert_eq!(deleted().await, newer, "the newer delete is in force");

    apply_all(store, &[EventBuilder::delete("drop-late", time(35), REPO).actor("late")], &policy).await;
    assert_eq!(deleted().await, newer, "an older delete arriving late changes nothing");
    assert_eq!(live().await, Vec::<String>::new(), "tags after the late delete");

    apply_all(store, &[push_tag("third", 50, REPO, &m3, "c")], &policy).await;
    assert_eq!(live().await, vec!["c"], "tags pushed after the newer delete");
    assert_eq!(deleted().await, None, "a push after the newer delete clears the mark");
    let summary = repositories_of(store, RepositoryQuery::default()).await;
    assert_eq!(
        summary.iter().map(|s| (s.repository.to_string(), s.tag_count)).collect::<Vec<_>>(),
        vec![("team/app".to_owned(), 1)],
        "the repository"
    );
}
