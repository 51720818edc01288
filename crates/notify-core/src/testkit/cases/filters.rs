//! Which live tags the inventory and the unused list hold: a registry, repository names by
//! prefix or substring, a tag.

use super::{read_list, read_walked_list};
use crate::query::{InventoryQuery, LiveTagFilter, NameMatch, UnusedQuery};
use crate::testkit::builder::{EventBuilder, apply_all, test_digest, time};
use crate::{Policy, Storage};

const ONE: &str = "one.test";
const TWO: &str = "two.test";

/// The inventory and the unused list (at an instant after every event) under `filter`, each
/// read with pages of 1 and of 2, as `registry/repository:tag` lines; both must agree.
async fn listed(store: &dyn Storage, filter: LiveTagFilter) -> Vec<String> {
    let mut inventory = Vec::new();
    for limit in [1, 2] {
        inventory = read_list(&format!("inventory of {filter:?}"), limit, async |p| {
            store.inventory(&InventoryQuery { filter: filter.clone(), page: p }).await
        })
        .await
        .items
        .iter()
        .map(|i| format!("{}/{}:{}", i.registry, i.repository, i.tag))
        .collect();
    }
    let unused: Vec<String> = read_walked_list(&format!("unused of {filter:?}"), 2, async |p| {
        store.unused(&UnusedQuery { filter: filter.clone(), page: p, ..UnusedQuery::since(time(1000)) }).await
    })
    .await
    .items
    .iter()
    .map(|u| format!("{}/{}:{}", u.item.registry, u.item.repository, u.item.tag))
    .collect();
    assert_eq!(unused, inventory, "{filter:?}: the unused list long after every event against the inventory");
    inventory
}

fn filter(registry: Option<&str>, repository: Option<NameMatch>, tag: Option<&str>) -> LiveTagFilter {
    LiveTagFilter {
        registry: registry.map(str::to_owned),
        repository,
        tag: tag.map(|t| t.parse().expect("a valid tag")),
    }
}

fn prefix(text: &str) -> Option<NameMatch> {
    Some(NameMatch::Prefix(text.to_owned()))
}

fn substring(text: &str) -> Option<NameMatch> {
    Some(NameMatch::Substring(text.to_owned()))
}

/// The inventory and the unused list keep the live tags that pass every condition given:
/// the registry, repository names by prefix or substring (case-insensitive, wildcard
/// characters literal, as in repository search) and the tag (exact, case-sensitive). A
/// deleted tag stays out whatever the filter names, and the unused list filters the same way
/// before it looks at pulls.
pub async fn the_inventory_and_the_unused_list_keep_the_live_tags_a_filter_names(store: &dyn Storage) {
    let push = |id: &str, host: &str, repository: &str, n: u32, tag: &str| {
        EventBuilder::push(id, time(10), repository)
            .host(host)
            .manifest(&test_digest(0x900 + n), 400)
            .tag(tag)
    };
    let events = vec![
        push("f-1", ONE, "team/app", 1, "latest"),
        push("f-2", ONE, "team/app", 2, "1.0"),
        push("f-2s", ONE, "team/app", 11, "stable"),
        push("f-3", ONE, "team/lib", 3, "latest"),
        push("f-4", ONE, "team/lib", 4, "Latest"),
        push("f-5", ONE, "teamx/app", 5, "latest"),
        push("f-6", ONE, "other/team/tool", 6, "latest"),
        push("f-7", ONE, "lib_a/x", 7, "2.0"),
        push("f-8", ONE, "liba/x", 8, "2.0"),
        push("f-9", TWO, "team/app", 9, "latest"),
        push("f-10", ONE, "team/app", 10, "old"),
        EventBuilder::delete("f-11", time(11), "team/app").host(ONE).tag("old"),
        EventBuilder::pull("f-12", time(20), "team/lib")
            .host(ONE)
            .manifest(&test_digest(0x903), 400)
            .tag("latest"),
    ];
    apply_all(store, &events, &Policy::default()).await;

    let team = [
        "one.test/team/app:1.0",
        "one.test/team/app:latest",
        "one.test/team/app:stable",
        "one.test/team/lib:Latest",
        "one.test/team/lib:latest",
        "two.test/team/app:latest",
    ];
    assert_eq!(listed(store, filter(None, prefix("team/"), None)).await, team, "prefix team/");
    assert_eq!(listed(store, filter(None, prefix("TEAM/"), None)).await, team, "prefix in capitals");
    assert_eq!(
        listed(store, filter(None, substring("team"), None)).await,
        [
            "one.test/other/team/tool:latest",
            "one.test/team/app:1.0",
            "one.test/team/app:latest",
            "one.test/team/app:stable",
            "one.test/team/lib:Latest",
            "one.test/team/lib:latest",
            "one.test/teamx/app:latest",
            "two.test/team/app:latest",
        ],
        "substring team"
    );
    assert_eq!(
        listed(store, filter(None, None, Some("latest"))).await,
        [
            "one.test/other/team/tool:latest",
            "one.test/team/app:latest",
            "one.test/team/lib:latest",
            "one.test/teamx/app:latest",
            "two.test/team/app:latest",
        ],
        "tag latest, not Latest"
    );
    assert_eq!(
        listed(store, filter(Some(ONE), prefix("team/"), Some("latest"))).await,
        ["one.test/team/app:latest", "one.test/team/lib:latest"],
        "all three"
    );
    assert_eq!(
        listed(store, filter(None, substring("b_a"), None)).await,
        ["one.test/lib_a/x:2.0"],
        "_ is literal"
    );
    assert_eq!(
        listed(store, filter(None, prefix("lib"), None)).await,
        ["one.test/lib_a/x:2.0", "one.test/liba/x:2.0"]
    );
    assert_eq!(listed(store, filter(None, substring("%"), None)).await, [] as [&str; 0], "% is literal");
    assert_eq!(
        listed(store, filter(None, substring("a b"), None)).await,
        [] as [&str; 0],
        "no name has a space"
    );
    assert_eq!(
        listed(store, filter(Some(TWO), prefix("team/lib"), None)).await,
        [] as [&str; 0],
        "other registry"
    );
    assert_eq!(listed(store, filter(None, None, Some("old"))).await, [] as [&str; 0], "a deleted tag");
    assert_eq!(listed(store, filter(None, None, Some("nowhere"))).await, [] as [&str; 0], "a tag nobody has");

    // Unused since 15: team/lib:latest was pulled at 20.
    let unused = read_walked_list("unused under team/lib", 2, async |p| {
        let f = filter(None, prefix("team/lib"), None);
        store.unused(&UnusedQuery { filter: f, page: p, ..UnusedQuery::since(time(15)) }).await
    })
    .await
    .items;
    let names: Vec<String> = unused.iter().map(|u| format!("{}:{}", u.item.repository, u.item.tag)).collect();
    assert_eq!(names, ["team/lib:Latest"], "unused since 15 under team/lib");
}
