//! Hostile but valid data: stored, returned and matched exactly as received.
//!
//! Everything here passes parsing (a registry could send it: these fields are free text), so a
//! store must keep it byte for byte, match it only literally, and sort it by bytes.

use serde_json::{Value, json};

use super::{
    apply_plan, digest_info, log_ids, log_of, name, repo, repositories_of, repository_names, some, stats_of,
    tag, tags_of,
};
use crate::query::{EventQuery, NameMatch, RepositoryQuery, RepositorySummary};
use crate::testkit::builder::{EventBuilder, test_digest, time};
use crate::{ApplyOutcome, LogEntry, Policy, Storage, parse_event, translate};

const SQL_ACTOR: &str = "'; DROP TABLE events; --";
const NOSQL_ACTOR: &str = "{\"$gt\": \"\"}";
const WHERE_ACTOR: &str = "$where: function() { return true; }";
const UNICODE_ACTOR: &str = "Zoë 🦀 日本語 \"quoted\" \\back\\slash\ttab\nnewline \u{7f}";
const MARKUP_AGENT: &str = "Mozilla/5.0 (X11; Linux) \"><script>alert(1)</script>";
const NOSQL_AGENT: &str = "{\"$where\": \"sleep(1000)\"}";
const SQL_ADDR: &str = "'; DROP TABLE x; --";
const HOSTILE_MEDIA_TYPE: &str = "application/x-'evil\"+json; charset=\"utf-8\"";
const HOSTILE_INSTANCE: &str = "instance'); DELETE FROM quarantine; --";

/// A 255-character repository name, the longest distribution accepts.
fn long_repository() -> String {
    format!("{}abc", "ab/".repeat(84))
}

/// A 128-character tag, the longest distribution accepts.
fn long_tag() -> String {
    let mut t = String::from("_");
    while t.len() < 128 {
        t.push_str("a.b-C_9");
    }
    t.truncate(128);
    t
}

/// 256 bytes, the longest actor name accepted.
fn long_actor() -> String {
    "é".repeat(128)
}

/// 1024 bytes, the longest user agent accepted.
fn long_agent() -> String {
    "🦀".repeat(256)
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Actor names, user agents, client addresses, hosts, media types, instance ids carrying SQL
/// and NoSQL injection payloads, quotes, markup, backslashes, control characters, unicode and
/// emoji, and names and tags at their maximum length, are stored verbatim, filtered by exact
/// match only, and sorted by bytes.
pub async fn hostile_but_valid_strings_are_stored_and_matched_verbatim(store: &dyn Storage) {
    let registry = "evil'host\"";
    let long = long_repository();
    let long_tag = long_tag();
    let (m1, m2, l1) = (test_digest(1), test_digest(2), test_digest(0x11));
    let push = |id: &str, seconds: i64, d: &crate::Digest, t: &str, actor: &str| {
        EventBuilder::push(id, time(seconds), &long).host("Evil'Host\"").manifest(d, 400).tag(t).actor(actor)
    };
    let pull = |id: &str, seconds: i64, actor: &str| {
        EventBuilder::pull(id, time(seconds), &long)
            .host("Evil'Host\"")
            .manifest(&m1, 400)
            .tag(&long_tag)
            .actor(actor)
    };
    let events = [
        push("h1", 1, &m1, &long_tag, SQL_ACTOR).user_agent(MARKUP_AGENT).addr(SQL_ADDR),
        push("h2", 2, &m1, "latest", NOSQL_ACTOR).user_agent(NOSQL_AGENT).addr("$where:1"),
        push("h3", 3, &m2, "latest", WHERE_ACTOR).user_agent(&long_agent()).addr("[::1]:8080"),
        push("h4", 4, &m1, "v4", "Zed"),
        push("h5", 5, &m1, "v5", "alice"),
        push("h6", 6, &m1, "v6", &long_actor()),
        EventBuilder::push("h7", time(7), &long)
            .host("Evil'Host\"")
            .blob(&l1, 10)
            .media_type(HOSTILE_MEDIA_TYPE)
            .actor(UNICODE_ACTOR)
            .source_instance(HOSTILE_INSTANCE),
        pull("h8", 8, NOSQL_ACTOR),
        pull("h9", 9, SQL_ACTOR),
        pull("h10", 10, UNICODE_ACTOR),
    ];
    let mut plans = Vec::new();
    for event in &events {
        let plan = event.plan(&Policy::default());
        assert_eq!(apply_plan(store, &plan).await, ApplyOutcome::Applied, "apply of {}", event.id());
        plans.push(plan);
    }

    // Every entry comes back as it went in.
    let log = log_of(store, EventQuery { registry: some(registry), ..EventQuery::default() }).await;
    assert_eq!(log.len(), plans.len(), "events of the hostile registry");
    for (stored, plan) in log.iter().rev().zip(&plans) {
        let as_json = |e: &LogEntry| -> (LogEntry, Value) {
            let raw = serde_json::from_str(&e.raw).expect("raw is JSON");
            (LogEntry { raw: String::new(), ..e.clone() }, raw)
        };
        assert_eq!(as_json(stored), as_json(&plan.entry), "log entry of {}", plan.entry.id);
    }
    let h = |id: &str| log.iter().find(|e| e.id == id).cloned().unwrap_or_else(|| panic!("{id} not logged"));
    assert_eq!(h("h1").actor.as_deref(), Some(SQL_ACTOR), "actor of h1");
    assert_eq!(h("h1").user_agent.as_deref(), Some(MARKUP_AGENT), "user agent of h1");
    assert_eq!(h("h1").client_ip.as_deref(), Some(SQL_ADDR), "client of h1");
    assert_eq!(h("h1").registry, registry, "registry of h1");
    assert_eq!(h("h1").repository.as_str(), long, "repository of h1");
    assert_eq!(h("h1").tag.as_ref().map(|t| t.as_str()), Some(long_tag.as_str()), "tag of h1");
    assert_eq!(h("h2").client_ip.as_deref(), Some("$where"), "client of h2");
    assert_eq!(h("h3").user_agent.as_deref(), Some(long_agent().as_str()), "user agent of h3");
    assert_eq!(h("h3").client_ip.as_deref(), Some("::1"), "client of h3");
    assert_eq!(h("h6").actor.as_deref(), Some(long_actor().as_str()), "actor of h6");
    assert_eq!(h("h7").actor.as_deref(), Some(UNICODE_ACTOR), "actor of h7");
    assert_eq!(h("h7").media_type.as_deref(), Some(HOSTILE_MEDIA_TYPE), "media type of h7");
    assert_eq!(h("h7").source_instance.as_deref(), Some(HOSTILE_INSTANCE), "instance of h7");

    let by = |q: EventQuery| EventQuery { registry: some(registry), ..q };
    let q = EventQuery::default;
    let filters: Vec<(&str, EventQuery, Vec<String>)> = vec![
        ("actor SQL", by(EventQuery { actor: some(SQL_ACTOR), ..q() }), strings(&["h9", "h1"])),
        ("actor NoSQL", by(EventQuery { actor: some(NOSQL_ACTOR), ..q() }), strings(&["h8", "h2"])),
        ("actor $where", by(EventQuery { actor: some(WHERE_ACTOR), ..q() }), strings(&["h3"])),
        ("actor prefix of $where", by(EventQuery { actor: some("$where"), ..q() }), strings(&[])),
        ("actor unicode", by(EventQuery { actor: some(UNICODE_ACTOR), ..q() }), strings(&["h10", "h7"])),
        ("actor long", by(EventQuery { actor: Some(long_actor()), ..q() }), strings(&["h6"])),
        ("actor %", by(EventQuery { actor: some("%"), ..q() }), strings(&[])),
        ("actor .*", by(EventQuery { actor: some(".*"), ..q() }), strings(&[])),
        ("client SQL", by(EventQuery { client_ip: some(SQL_ADDR), ..q() }), strings(&["h1"])),
        ("client $where", by(EventQuery { client_ip: some("$where"), ..q() }), strings(&["h2"])),
        ("client ::1", by(EventQuery { client_ip: some("::1"), ..q() }), strings(&["h3"])),
        (
            "long tag",
            by(EventQuery { tag: Some(tag(&long_tag)), ..q() }),
            strings(&["h10", "h9", "h8", "h1"]),
        ),
        (
            "long repository",
            EventQuery { repository: Some(name(&long)), ..q() },
            strings(&["h10", "h9", "h8", "h7", "h6", "h5", "h4", "h3", "h2", "h1"]),
        ),
        ("registry with different case", EventQuery { registry: some("Evil'Host\""), ..q() }, strings(&[])),
    ];
    for (what, query, expected) in filters {
        assert_eq!(log_ids(store, query).await, expected, "events, {what}");
    }

    let r = repo(registry, &long);
    assert_eq!(
        repositories_of(store, RepositoryQuery { registry: some(registry), ..RepositoryQuery::default() })
            .await,
        vec![RepositorySummary {
            registry: registry.to_owned(),
            repository: name(&long),
            tag_count: 5,
            push_count: 6,
            pull_count: 3,
            last_push: Some(time(6)),
            last_pull: Some(time(10)),
            deleted: None,
        }],
        "repositories of the hostile registry"
    );
    let tags: Vec<(String, Option<String>)> =
        tags_of(store, &r).await.into_iter().map(|t| (t.tag.to_string(), t.pushed_by)).collect();
    assert_eq!(
        tags,
        vec![
            (long_tag.clone(), some(SQL_ACTOR)),
            ("latest".to_owned(), some(WHERE_ACTOR)),
            ("v4".to_owned(), some("Zed")),
            ("v5".to_owned(), some("alice")),
            ("v6".to_owned(), Some(long_actor())),
        ],
        "tags and who pushed them"
    );
    let stats = stats_of(store, &r).await;
    assert_eq!(
        stats.pushers,
        vec![
            WHERE_ACTOR.to_owned(),
            SQL_ACTOR.to_owned(),
            "Zed".to_owned(),
            "alice".to_owned(),
            NOSQL_ACTOR.to_owned(),
            long_actor()
        ],
        "pushers, in byte order"
    );
    assert_eq!(stats.pullers, strings(&[SQL_ACTOR, UNICODE_ACTOR, NOSQL_ACTOR]), "pullers, in byte order");
    assert_eq!(
        digest_info(store, l1.as_str()).await.media_type.as_deref(),
        Some(HOSTILE_MEDIA_TYPE),
        "media type of the blob"
    );
    for search in [NameMatch::Substring("'; DROP".into()), NameMatch::Prefix(NOSQL_ACTOR.into())] {
        let query = RepositoryQuery { name: Some(search.clone()), ..RepositoryQuery::default() };
        assert_eq!(
            repository_names(store, query).await,
            Vec::<String>::new(),
            "repositories matching {search:?}"
        );
    }
}

/// Fields this version does not model (at the top level, in `target`, `request`, `actor`,
/// `source`), JSON escapes, nested values and fractional numbers survive in the logged raw
/// event; the modelled fields are read as usual.
pub async fn unknown_json_fields_are_kept_in_the_raw_event(store: &dyn Storage) {
    let built = EventBuilder::push("extra-1", time(1), "team/app")
        .manifest(&test_digest(1), 400)
        .tag("1.0")
        .actor("alice")
        .set(&["x-extension"], json!({ "nested": [1, "two", null, true, { "deep": "value" }], "ratio": 0.5 }))
        .set(&["target", "newField"], json!("kept"))
        .set(&["request", "extra"], json!(5))
        .set(&["actor", "groups"], json!(["admins", "ci"]))
        .set(&["source", "region"], json!("eu-1"));
    // Escapes as a registry may write them, which re-serialising would not reproduce.
    let text =
        built.json().replacen('{', "{\n  \"note\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/\",", 1);
    let event = parse_event(0, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let plan = translate(&event, &Policy::default()).expect("translates");
    assert_eq!(apply_plan(store, &plan).await, ApplyOutcome::Applied, "apply");

    let log = log_of(store, EventQuery::default()).await;
    assert_eq!(log.len(), 1, "event log");
    let raw: Value = serde_json::from_str(&log[0].raw).expect("raw is JSON");
    let sent: Value = serde_json::from_str(&text).expect("sent text is JSON");
    assert_eq!(raw, sent, "raw event");
    let at = |pointer: &str| raw.pointer(pointer).cloned().unwrap_or(Value::Null);
    assert_eq!(at("/note"), json!("café 😀 \"q\" \\ /"), "escaped text");
    assert_eq!(at("/x-extension/nested/4/deep"), json!("value"), "nested unknown field");
    assert_eq!(at("/x-extension/ratio"), json!(0.5), "fractional number");
    assert_eq!(at("/target/newField"), json!("kept"), "unknown target field");
    assert_eq!(at("/request/extra"), json!(5), "unknown request field");
    assert_eq!(at("/actor/groups"), json!(["admins", "ci"]), "unknown actor field");
    assert_eq!(at("/source/region"), json!("eu-1"), "unknown source field");
    assert_eq!(
        (log[0].actor.as_deref(), log[0].tag.as_ref().map(|t| t.as_str())),
        (Some("alice"), Some("1.0")),
        "modelled fields"
    );
}
