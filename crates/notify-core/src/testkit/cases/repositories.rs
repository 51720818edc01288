//! Repository listing and search, and the registry names events are filed under.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{inventory_of, log_of, name, repo, repositories_of, repository_names, tag, tags_of};
use crate::query::{EventQuery, NameMatch, RepositoryQuery, RepositorySummary};
use crate::testkit::builder::{DEFAULT_HOST, EventBuilder, apply_all, test_digest, time};
use crate::{Policy, Storage};

fn summary(registry: &str, repository: &str, seconds: i64) -> RepositorySummary {
    RepositorySummary {
        registry: registry.to_owned(),
        repository: name(repository),
        tag_count: 1,
        push_count: 1,
        pull_count: 0,
        last_push: Some(time(seconds)),
        last_pull: None,
        deleted: None,
    }
}

fn push(id: &str, seconds: i64, host: &str, repository: &str) -> EventBuilder {
    EventBuilder::push(id, time(seconds), repository).host(host).manifest(&test_digest(1), 400).tag("v1")
}

/// Repositories are listed by registry then name; a registry filter, a prefix and a substring
/// (case-insensitive, anywhere in the name including `/`) narrow the list, alone or together.
pub async fn repository_search_by_prefix_and_substring_per_registry(store: &dyn Storage) {
    let (r1, r2) = ("r1.test", "r2.test");
    let events = [
        push("s4", 4, r1, "team/app"),
        push("s6", 6, r2, "tools"),
        push("s1", 1, r1, "library/alpine"),
        push("s3", 3, r1, "team/alpine-tools"),
        push("s5", 5, r2, "library/alpine"),
        push("s2", 2, r1, "library/alpine-test"),
    ];
    apply_all(store, &events, &Policy::default()).await;
    let r1_alpine = summary(r1, "library/alpine", 1);
    let r1_alpine_test = summary(r1, "library/alpine-test", 2);
    let r1_tools = summary(r1, "team/alpine-tools", 3);
    let r1_app = summary(r1, "team/app", 4);
    let r2_alpine = summary(r2, "library/alpine", 5);
    let r2_tools = summary(r2, "tools", 6);
    let all = vec![
        r1_alpine.clone(),
        r1_alpine_test.clone(),
        r1_tools.clone(),
        r1_app.clone(),
        r2_alpine.clone(),
        r2_tools.clone(),
    ];

    let query = |registry: Option<&str>, name: Option<NameMatch>| RepositoryQuery {
        registry: registry.map(str::to_owned),
        name,
        ..RepositoryQuery::default()
    };
    let prefix = |s: &str| Some(NameMatch::Prefix(s.to_owned()));
    let substring = |s: &str| Some(NameMatch::Substring(s.to_owned()));
    let cases: Vec<(&str, RepositoryQuery, Vec<RepositorySummary>)> = vec![
        ("everything", query(None, None), all.clone()),
        ("registry r1", query(Some(r1), None), all[..4].to_vec()),
        ("registry r2", query(Some(r2), None), all[4..].to_vec()),
        ("registry r3", query(Some("r3.test"), None), vec![]),
        ("registry R1 (exact)", query(Some("R1.test"), None), vec![]),
        (
            "prefix library/",
            query(None, prefix("library/")),
            vec![r1_alpine.clone(), r1_alpine_test.clone(), r2_alpine.clone()],
        ),
        ("prefix library/ in r2", query(Some(r2), prefix("library/")), vec![r2_alpine.clone()]),
        (
            "prefix LIBRARY/ALP",
            query(None, prefix("LIBRARY/ALP")),
            vec![r1_alpine.clone(), r1_alpine_test.clone(), r2_alpine.clone()],
        ),
        ("prefix library/alpine-", query(None, prefix("library/alpine-")), vec![r1_alpine_test.clone()]),
        ("prefix alpine", query(None, prefix("alpine")), vec![]),
        ("prefix ''", query(None, prefix("")), all.clone()),
        (
            "substring alpine",
            query(None, substring("alpine")),
            vec![r1_alpine.clone(), r1_alpine_test.clone(), r1_tools.clone(), r2_alpine.clone()],
        ),
        (
            "substring ALPINE",
            query(None, substring("ALPINE")),
            vec![r1_alpine.clone(), r1_alpine_test.clone(), r1_tools.clone(), r2_alpine.clone()],
        ),
        (
            "substring alpine in r1",
            query(Some(r1), substring("alpine")),
            vec![r1_alpine.clone(), r1_alpine_test, r1_tools.clone()],
        ),
        ("substring tools", query(None, substring("tools")), vec![r1_tools, r2_tools]),
        ("substring m/app", query(None, substring("m/app")), vec![r1_app]),
        ("substring tools/", query(None, substring("tools/")), vec![]),
        ("substring ''", query(None, substring("")), all),
        ("substring alpine in r3", query(Some("r3.test"), substring("alpine")), vec![]),
    ];
    for (what, query, expected) in cases {
        assert_eq!(repositories_of(store, query).await, expected, "repositories, {what}");
    }
}

/// Search text is text: `_` and `%` are not SQL wildcards, `.`, `*`, `[`, `(`, `^`, `$`, `|`,
/// `?`, `\` are not regular expression syntax, and a JSON object is not a query operator.
pub async fn repository_search_treats_wildcards_and_regex_characters_literally(store: &dyn Storage) {
    let names = ["axb", "a_b", "ab", "a.b", "a__b", "a-b", "a/b"];
    let events: Vec<EventBuilder> =
        names.iter().enumerate().map(|(i, n)| push(&format!("w{i}"), i as i64, DEFAULT_HOST, n)).collect();
    apply_all(store, &events, &Policy::default()).await;

    let full = |list: &[&str]| list.iter().map(|n| format!("{DEFAULT_HOST}/{n}")).collect::<Vec<_>>();
    let sorted = full(&["a-b", "a.b", "a/b", "a__b", "a_b", "ab", "axb"]);
    let cases: Vec<(NameMatch, Vec<String>)> = vec![
        (NameMatch::Prefix("A".into()), sorted),
        (NameMatch::Substring("_".into()), full(&["a__b", "a_b"])),
        (NameMatch::Substring("__".into()), full(&["a__b"])),
        (NameMatch::Prefix("a_".into()), full(&["a__b", "a_b"])),
        (NameMatch::Substring("a_b".into()), full(&["a_b"])),
        (NameMatch::Substring(".".into()), full(&["a.b"])),
        (NameMatch::Prefix("a.".into()), full(&["a.b"])),
        (NameMatch::Substring("a.b".into()), full(&["a.b"])),
        (NameMatch::Substring("-".into()), full(&["a-b"])),
        (NameMatch::Substring("/".into()), full(&["a/b"])),
        (NameMatch::Substring("x".into()), full(&["axb"])),
        (NameMatch::Substring("%".into()), vec![]),
        (NameMatch::Prefix("%".into()), vec![]),
        (NameMatch::Prefix("a%".into()), vec![]),
        (NameMatch::Substring("a%b".into()), vec![]),
        (NameMatch::Substring("a*".into()), vec![]),
        (NameMatch::Substring("a+".into()), vec![]),
        (NameMatch::Prefix(".*".into()), vec![]),
        (NameMatch::Substring("[ab]".into()), vec![]),
        (NameMatch::Substring("(a)".into()), vec![]),
        (NameMatch::Prefix("^a".into()), vec![]),
        (NameMatch::Substring("b$".into()), vec![]),
        (NameMatch::Substring("a|x".into()), vec![]),
        (NameMatch::Substring("a?b".into()), vec![]),
        (NameMatch::Substring("\\".into()), vec![]),
        (NameMatch::Substring("a\\_b".into()), vec![]),
        (NameMatch::Substring("'".into()), vec![]),
        (NameMatch::Substring("{\"$regex\": \".*\"}".into()), vec![]),
        (NameMatch::Prefix("{\"$gt\": \"\"}".into()), vec![]),
    ];
    for (search, expected) in cases {
        let query = RepositoryQuery { name: Some(search.clone()), ..RepositoryQuery::default() };
        assert_eq!(repository_names(store, query).await, expected, "repositories matching {search:?}");
    }
}

/// The registry of an event is the policy's fixed name, else its `Host` lowercased, mapped
/// through the policy's aliases (compared case-insensitively), else `default`. Every list and
/// filter uses that canonical name; the raw event keeps the host as sent.
pub async fn registry_names_follow_policy_aliases_and_the_fixed_name(store: &dyn Storage) {
    let aliases: BTreeMap<String, String> = [
        ("127.0.0.1:5055".to_owned(), "registry.example.com".to_owned()),
        ("LOCALHOST:5000".to_owned(), "registry.example.com".to_owned()),
    ]
    .into();
    let by_alias = Policy { aliases: aliases.clone(), ..Policy::default() };
    let fixed =
        Policy { registry: Some("Fixed.Example".to_owned()), aliases: aliases.clone(), ..Policy::default() };
    let fixed_alias = Policy { registry: Some("127.0.0.1:5055".to_owned()), aliases, ..Policy::default() };
    let app = "team/app";
    let tagged = |id: &str, seconds: i64, host: &str, t: &str| push(id, seconds, host, app).tag(t);
    apply_all(
        store,
        &[
            tagged("n1", 1, "127.0.0.1:5055", "a"),
            tagged("n2", 2, "localhost:5000", "b"),
            tagged("n3", 3, "Mirror.Example:443", "m"),
            tagged("n4", 4, "", "d").remove(&["request", "host"]),
        ],
        &by_alias,
    )
    .await;
    apply_all(store, &[tagged("n5", 5, "127.0.0.1:5055", "f")], &fixed).await;
    apply_all(store, &[tagged("n6", 6, "mirror.example:443", "c")], &fixed_alias).await;

    assert_eq!(
        repository_names(store, RepositoryQuery::default()).await,
        vec![
            "default/team/app",
            "fixed.example/team/app",
            "mirror.example:443/team/app",
            "registry.example.com/team/app",
        ],
        "registries"
    );
    let canonical = repo("registry.example.com", app);
    let tags: Vec<String> = tags_of(store, &canonical).await.into_iter().map(|t| t.tag.to_string()).collect();
    assert_eq!(tags, vec!["a", "b", "c"], "tags filed under registry.example.com");
    let by_registry = |r: &str| EventQuery { registry: Some(r.to_owned()), ..EventQuery::default() };
    let log = log_of(store, by_registry("registry.example.com")).await;
    assert_eq!(log.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["n6", "n2", "n1"], "events");
    let raw: Value = serde_json::from_str(&log[2].raw).expect("raw is JSON");
    assert_eq!(raw.pointer("/request/host"), Some(&Value::from("127.0.0.1:5055")), "raw keeps the host");
    for alias in ["127.0.0.1:5055", "localhost:5000", "Mirror.Example:443"] {
        assert_eq!(log_of(store, by_registry(alias)).await, vec![], "events filed under {alias}");
    }
    let ids =
        async |r: &str| log_of(store, by_registry(r)).await.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids("default").await, vec!["n4"], "events of the default registry");
    assert_eq!(ids("fixed.example").await, vec!["n5"], "events of the fixed registry");
    assert_eq!(ids("mirror.example:443").await, vec!["n3"], "events of the lowercased host");
    let inventory: Vec<String> = inventory_of(store, Some("registry.example.com"))
        .await
        .into_iter()
        .map(|i| format!("{}/{}:{}", i.registry, i.repository, i.tag))
        .collect();
    assert_eq!(
        inventory,
        vec![
            "registry.example.com/team/app:a",
            "registry.example.com/team/app:b",
            "registry.example.com/team/app:c"
        ],
        "inventory of registry.example.com"
    );
    assert_eq!(tags_of(store, &repo("default", app)).await[0].tag, tag("d"), "tag of the default registry");
}
