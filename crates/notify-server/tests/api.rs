//! The query API through the real router, over the fixtures: every endpoint, its filters,
//! paging, the NDJSON inventory, the read token and the error bodies.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{StatusCode, header};
use common::*;

const REGISTRY: &str = "127.0.0.1:5055";

async fn loaded() -> axum::Router {
    let app = app();
    for dir in ["registry-2.8/basic", "registry-2.8/auth"] {
        for (name, body) in fixture_bodies(dir) {
            let answer = post_events(&app, "/events", V1, body).await;
            assert_eq!(answer.status, StatusCode::OK, "{dir}/{name}");
        }
    }
    app
}

fn items(page: &serde_json::Value) -> &Vec<serde_json::Value> {
    page["items"].as_array().unwrap_or_else(|| panic!("not a page: {page}"))
}

async fn expect_error(app: &axum::Router, path: &str, status: StatusCode, code: &str) -> String {
    let answer = get(app, path).await;
    assert_eq!(answer.status, status, "GET {path}: {}", answer.text());
    assert_eq!(answer.error_code(), code, "GET {path}");
    answer.json()["error"]["message"].as_str().unwrap().to_owned()
}

/// Follows `next` through every page.
async fn all_pages(app: &axum::Router, path: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let page = get_ok(app, &url).await;
        out.extend(items(&page).iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
    panic!("paging does not end");
}

#[tokio::test]
async fn reads_need_the_read_token_not_the_webhook_token() {
    let app = loaded().await;
    for auth in [None, Some(format!("Bearer {WEBHOOK_TOKEN}")), Some("Bearer".to_owned())] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let answer = get_with(&app, "/api/v1/repositories", &headers).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(answer.error_code(), "unauthorized");
        assert!(answer.headers[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
    }
    // Probes, metrics and the document are open.
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        assert_eq!(get_with(&app, path, &[]).await.status, StatusCode::OK, "{path}");
    }
}

/// The count of `notify_api_request_duration_seconds` for a route template and status class.
fn query_count(metrics: &str, route: &str, status: &str) -> u64 {
    let series =
        format!("notify_api_request_duration_seconds_count{{route=\"{route}\",status=\"{status}\"}} ");
    metrics.lines().find_map(|line| line.strip_prefix(series.as_str())).map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn queries_are_timed_by_route_template_and_status_class() {
    let app = loaded().await;
    get_ok(&app, "/api/v1/tags?repository=team/app").await;
    get_ok(&app, "/api/v1/tags?repository=team/app&limit=1").await;
    expect_error(&app, "/api/v1/tags", StatusCode::BAD_REQUEST, "invalid_parameter").await;
    let unknown = format!("/api/v1/digests/sha256:{}", "0".repeat(64));
    expect_error(&app, &unknown, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(get_with(&app, "/api/v1/events", &[]).await.status, StatusCode::UNAUTHORIZED);
    expect_error(&app, "/api/v1/no-such-route", StatusCode::NOT_FOUND, "not_found").await;

    let metrics = get_with(&app, "/metrics", &[]).await.text();
    assert_eq!(query_count(&metrics, "/api/v1/tags", "2xx"), 2, "{metrics}");
    assert_eq!(query_count(&metrics, "/api/v1/tags", "4xx"), 1, "{metrics}");
    // The template, not the digest asked for: clients cannot add series.
    assert_eq!(query_count(&metrics, "/api/v1/digests/{digest}", "4xx"), 1, "{metrics}");
    assert!(!metrics.contains("sha256:0000"), "{metrics}");
    assert_eq!(query_count(&metrics, "/api/v1/events", "4xx"), 1, "a refused token is timed too");
    assert!(!metrics.contains("no-such-route"), "{metrics}");
    // Probes, metrics and the webhook are not queries.
    assert!(!metrics.contains("route=\"/metrics\""), "{metrics}");
    assert!(!metrics.contains("route=\"/events\""), "{metrics}");
}

#[tokio::test]
async fn repositories_are_searched_filtered_and_paged() {
    let app = loaded().await;
    let all = get_ok(&app, "/api/v1/repositories").await;
    let names: Vec<_> = items(&all).iter().map(|r| r["repository"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice/tool", "library/alpine-test", "library/multi", "team/app"]);
    assert_eq!(all["next"], serde_json::Value::Null);

    let prefix = get_ok(&app, "/api/v1/repositories?prefix=library/").await;
    assert_eq!(items(&prefix).len(), 2);
    let q = get_ok(&app, "/api/v1/repositories?q=APP").await;
    assert_eq!(items(&q)[0]["repository"], "team/app");
    let registry = get_ok(&app, &format!("/api/v1/repositories?registry={REGISTRY}")).await;
    assert_eq!(items(&registry).len(), 4);
    assert_eq!(items(&get_ok(&app, "/api/v1/repositories?registry=elsewhere").await).len(), 0);

    let paged = all_pages(&app, "/api/v1/repositories?limit=1").await;
    assert_eq!(&paged, items(&all));

    expect_error(&app, "/api/v1/repositories?prefix=a&q=b", StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;
    let m = expect_error(&app, "/api/v1/repositories?limit=0", StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;
    assert!(m.contains("limit"), "{m}");
    expect_error(&app, "/api/v1/repositories?limit=1001", StatusCode::BAD_REQUEST, "invalid_parameter").await;
    let m =
        expect_error(&app, "/api/v1/repositories?limit=ten", StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
    assert_eq!(m, "limit: not a whole number from 1 to 1000");
    let m = expect_error(&app, "/api/v1/repositories?limit=-1", StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;
    assert_eq!(m, "limit: not a whole number from 1 to 1000");
    let m =
        expect_error(&app, "/api/v1/repositories?repo=x", StatusCode::BAD_REQUEST, "invalid_parameter").await;
    assert!(m.starts_with("repo: unknown field `repo`, expected one of"), "{m}");
    expect_error(&app, "/api/v1/repositories?cursor=zz", StatusCode::BAD_REQUEST, "invalid_cursor").await;
}

#[tokio::test]
async fn tags_history_and_stats_of_a_repository() {
    let app = loaded().await;
    let tags = get_ok(&app, "/api/v1/tags?repository=team/app").await;
    assert_eq!(tag_names(&tags), ["1.0"]);
    assert_eq!(items(&tags)[0]["kind"], "manifest");
    assert_eq!(items(&tags)[0]["pull_count"], 1);

    let history = get_ok(&app, "/api/v1/tags/history?repository=library/alpine-test&tag=latest").await;
    assert_eq!(items(&history).len(), 2, "{history}");
    assert_eq!(items(&history)[1]["digest"], DIGEST_A);
    assert_eq!(items(&history)[0]["previous"], DIGEST_A);
    let paged =
        all_pages(&app, "/api/v1/tags/history?repository=library/alpine-test&tag=latest&limit=1").await;
    assert_eq!(&paged, items(&history));

    // As it stood at an instant: from the change in force then, the boundary included.
    let url = "/api/v1/tags/history?repository=library/alpine-test&tag=latest";
    let (newest, oldest) = (&items(&history)[0], &items(&history)[1]);
    let at = |t: &serde_json::Value| format!("{url}&at={}", t.as_str().unwrap());
    assert_eq!(items(&get_ok(&app, &at(&oldest["at"])).await), std::slice::from_ref(oldest));
    assert_eq!(items(&get_ok(&app, &at(&newest["at"])).await), items(&history));
    assert_eq!(
        items(&get_ok(&app, &format!("{url}&at=2000-01-01T00:00:00Z")).await),
        &[] as &[serde_json::Value]
    );
    assert_eq!(
        &all_pages(&app, &format!("{url}&at=2100-01-01T00:00:00%2B02:00&limit=1")).await,
        items(&history)
    );
    let m = expect_error(&app, &format!("{url}&at=yesterday"), StatusCode::BAD_REQUEST, "invalid_parameter")
        .await;
    assert!(m.starts_with("at:"), "{m}");

    // The repository's tags at those instants: latest moved between them.
    let tags_at = |t: &serde_json::Value| {
        format!("/api/v1/tags/at?repository=library/alpine-test&at={}&limit=1", t.as_str().unwrap())
    };
    let then = all_pages(&app, &tags_at(&oldest["at"])).await;
    let latest_then: Vec<_> = then.iter().filter(|t| t["tag"] == "latest").collect();
    assert_eq!(latest_then.len(), 1, "{then:?}");
    assert_eq!(latest_then[0]["digest"], oldest["digest"]);
    assert_eq!(latest_then[0]["set_at"], oldest["at"]);
    assert_eq!(latest_then[0]["event_id"], oldest["event_id"]);
    let now = all_pages(&app, &tags_at(&serde_json::json!("2100-01-01T00:00:00Z"))).await;
    let live = get_ok(&app, "/api/v1/tags?repository=library/alpine-test").await;
    let names = |items: &[serde_json::Value]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|t| (t["tag"].as_str().unwrap().to_owned(), t["digest"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(names(&now), names(items(&live)), "long after, the live tags");
    assert!(
        items(&get_ok(&app, "/api/v1/tags/at?repository=library/alpine-test&at=2000-01-01T00:00:00Z").await)
            .is_empty()
    );
    let m = expect_error(
        &app,
        "/api/v1/tags/at?repository=library/alpine-test",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    assert_eq!(m, "at: required");
    expect_error(
        &app,
        "/api/v1/tags/at?repository=no/such&at=2100-01-01T00:00:00Z",
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let stats =
        get_ok(&app, &format!("/api/v1/repositories/stats?registry={REGISTRY}&repository=alice/tool")).await;
    assert_eq!(stats["push_count"], 1);
    assert_eq!(stats["pushers"], serde_json::json!(["alice"]));
    assert_eq!(stats["tag_count"], 0);

    expect_error(&app, "/api/v1/tags?repository=no/such", StatusCode::NOT_FOUND, "not_found").await;
    expect_error(
        &app,
        "/api/v1/repositories/stats?registry=x&repository=no/such",
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(items(&get_ok(&app, "/api/v1/tags?registry=elsewhere&repository=team/app").await).len(), 0);
    let m =
        expect_error(&app, "/api/v1/tags?repository=Team/App", StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
    assert!(m.starts_with("repository:"), "{m}");
    expect_error(
        &app,
        "/api/v1/tags?registry=a%20b&repository=team/app",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    let m = expect_error(&app, "/api/v1/tags", StatusCode::BAD_REQUEST, "invalid_parameter").await;
    assert_eq!(m, "repository: required");
    let m = expect_error(
        &app,
        "/api/v1/tags?repository=team/app&repository=team/lib",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    assert_eq!(m, "repository: given more than once");
    expect_error(
        &app,
        "/api/v1/tags/history?repository=team/app&tag=-x",
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
}

#[tokio::test]
async fn a_repository_in_several_registries_needs_the_registry_named() {
    let app = app();
    post_events(&app, "/events/one.example", V1, envelope(&[push_event("a", "team/app", "1", DIGEST_A)]))
        .await;
    post_events(&app, "/events/two.example", V1, envelope(&[push_event("b", "team/app", "2", DIGEST_A)]))
        .await;
    let m =
        expect_error(&app, "/api/v1/tags?repository=team/app", StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
    assert!(m.contains("one.example") && m.contains("two.example"), "{m}");
    assert_eq!(
        tag_names(&get_ok(&app, "/api/v1/tags?registry=TWO.example&repository=team/app").await),
        ["2"]
    );
}

#[tokio::test]
async fn digests_are_described_or_not_found() {
    let app = loaded().await;
    let info = get_ok(&app, &format!("/api/v1/digests/{DIGEST_A}")).await;
    assert_eq!(info["kind"], "manifest");
    assert!(info["references"].as_array().unwrap().iter().any(|r| r["kind"] == "layer"));
    let locations = info["repositories"].as_array().unwrap();
    assert!(locations.iter().any(|l| l["repository"] == "library/alpine-test" && l["live"] == false));
    let unknown = format!("sha256:{}", "0".repeat(64));
    expect_error(&app, &format!("/api/v1/digests/{unknown}"), StatusCode::NOT_FOUND, "not_found").await;
    expect_error(&app, "/api/v1/digests/sha256:abc", StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

#[tokio::test]
async fn the_repositories_and_referrers_of_a_digest_page() {
    use serde_json::Value;
    let app = loaded().await;
    let info = get_ok(&app, &format!("/api/v1/digests/{DIGEST_A}")).await;
    assert_eq!((&info["repositories_next"], &info["referenced_by_next"]), (&Value::Null, &Value::Null));
    let whole = info["repositories"].as_array().unwrap();
    assert!(whole.len() >= 2, "the fixtures put {DIGEST_A} in several repositories: {info}");

    // One repository a page, following each `next`, gives what the description listed.
    let base = format!("/api/v1/digests/{DIGEST_A}/repositories");
    let mut paged = Vec::new();
    let mut page = get_ok(&app, &format!("{base}?limit=1")).await;
    loop {
        paged.extend(items(&page).iter().cloned());
        let Some(next) = page["next"].as_str() else { break };
        page = get_ok(&app, &format!("{base}?limit=1&cursor={next}")).await;
    }
    assert_eq!(&paged, whole);

    // A layer of it names it as a referrer.
    let layer = info["references"].as_array().unwrap().iter().find(|r| r["kind"] == "layer").unwrap();
    let referrers =
        get_ok(&app, &format!("/api/v1/digests/{}/referrers", layer["digest"].as_str().unwrap())).await;
    assert!(
        items(&referrers).contains(&serde_json::json!({"digest": DIGEST_A, "kind": "layer"})),
        "{referrers}"
    );

    let unknown = format!("sha256:{}", "0".repeat(64));
    for list in ["repositories", "referrers"] {
        let empty = get_ok(&app, &format!("/api/v1/digests/{unknown}/{list}")).await;
        assert_eq!(empty, serde_json::json!({"items": [], "next": null}), "{list} of an unknown digest");
        let bad = format!("/api/v1/digests/{DIGEST_A}/{list}?cursor=zz");
        expect_error(&app, &bad, StatusCode::BAD_REQUEST, "invalid_cursor").await;
        let bad = format!("/api/v1/digests/sha256:abc/{list}");
        expect_error(&app, &bad, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}

#[tokio::test]
async fn the_event_log_takes_every_filter_and_pages() {
    let app = loaded().await;
    let all = get_ok(&app, "/api/v1/events?limit=1000").await;
    assert_eq!(items(&all).len(), 35 + 8);
    let count = |page: &serde_json::Value| items(page).len();

    let cases = [
        ("action=delete", 5),
        ("action=mount", 2),
        ("repository=alice/tool", 8),
        ("repository=alice/tool&tag=v1", 4),
        ("actor=alice", 4),
        (&format!("digest={DIGEST_A}") as &str, 13),
        (&format!("registry={REGISTRY}"), 43),
        ("registry=elsewhere", 0),
        ("client_ip=127.0.0.1", 43),
        ("client_ip=10.1.1.1", 0),
        ("since=2099-01-01T00:00:00Z", 0),
        ("until=2000-01-01T00:00:00Z", 0),
        ("since=2026-11-22T00:00:00Z&until=2026-11-24T00:00:00%2B01:00", 43),
        // An unencoded '+' of an offset arrives as a space and is understood.
        ("since=2026-11-22T00:00:00+01:00", 43),
    ];
    for (query, expected) in cases {
        let page = get_ok(&app, &format!("/api/v1/events?limit=1000&{query}")).await;
        assert_eq!(count(&page), expected, "{query}");
    }
    let pulls = get_ok(&app, "/api/v1/events?action=pull&actor=alice&limit=1000").await;
    assert!(items(&pulls).iter().all(|e| e["action"] == "pull" && e["actor"] == "alice"));

    let paged = all_pages(&app, "/api/v1/events?limit=7").await;
    assert_eq!(&paged, items(&all));
    let times: Vec<&str> = paged.iter().map(|e| e["timestamp"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    for bad in [
        "since=yesterday",
        "digest=sha256:1",
        "tag=a/b",
        "repository=A",
        "action=",
        "until=2026-01-01T00:00:00Z&since=2026-02-01T00:00:00Z",
    ] {
        expect_error(&app, &format!("/api/v1/events?{bad}"), StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
    }
    let cursor = notify_core::Cursor::from_key(&["x".into()]);
    expect_error(
        &app,
        &format!("/api/v1/events?cursor={}", cursor.as_str()),
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
}

#[tokio::test]
async fn the_inventory_is_json_pages_or_one_ndjson_stream() {
    let app = loaded().await;
    let json = get_ok(&app, "/api/v1/inventory").await;
    let expected: Vec<serde_json::Value> = items(&json).clone();
    assert_eq!(expected.len(), 3, "{json}");
    assert_eq!(all_pages(&app, "/api/v1/inventory?limit=1").await, expected);

    let auth = format!("Bearer {READ_TOKEN}");
    for (path, accept) in [
        ("/api/v1/inventory?limit=1", Some("application/x-ndjson")),
        ("/api/v1/inventory", Some("text/html, application/x-ndjson;q=0.9")),
        ("/api/v1/inventory.ndjson?limit=2", None),
        ("/api/v1/inventory.ndjson", Some("application/json")),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        headers.extend(accept.map(|a| ("accept", a)));
        let answer = get_with(&app, path, &headers).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(answer.headers[header::CONTENT_TYPE], "application/x-ndjson", "{path}");
        let lines: Vec<serde_json::Value> =
            answer.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, expected, "{path}");
    }
    let filtered = get_ok(&app, "/api/v1/inventory?registry=elsewhere").await;
    assert!(items(&filtered).is_empty());
    expect_error(&app, "/api/v1/inventory.ndjson?cursor=00", StatusCode::BAD_REQUEST, "invalid_cursor").await;

    // Repository names by prefix or substring (as in repository search), and a tag.
    let tags = |items: &[serde_json::Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| format!("{}:{}", i["repository"].as_str().unwrap(), i["tag"].as_str().unwrap()))
            .collect()
    };
    for (query, expected) in [
        ("prefix=library/", vec!["library/alpine-test:latest", "library/multi:2.0"]),
        ("q=MULTI", vec!["library/multi:2.0"]),
        ("tag=latest", vec!["library/alpine-test:latest"]),
        ("prefix=library/&tag=2.0", vec!["library/multi:2.0"]),
        ("prefix=team/&tag=latest", vec![]),
    ] {
        let path = format!("/api/v1/inventory?{query}&limit=1");
        assert_eq!(tags(&all_pages(&app, &path).await), expected, "{path}");
        let answer =
            get_with(&app, &format!("/api/v1/inventory.ndjson?{query}"), &[("authorization", &auth)]).await;
        let lines: Vec<serde_json::Value> =
            answer.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(tags(&lines), expected, "{query} as NDJSON");
    }
    let m =
        expect_error(&app, "/api/v1/inventory?prefix=a&q=b", StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
    assert_eq!(m, "give either prefix or q, not both");
    let m =
        expect_error(&app, "/api/v1/inventory.ndjson?tag=-x", StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
    assert!(m.starts_with("tag:"), "{m}");
    expect_error(&app, "/api/v1/inventory?q=", StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

/// Where a page of the unused list examines few tags, JSON pages come back short or empty
/// with a `next`, and following `next` (or streaming NDJSON) still lists every unused tag.
#[tokio::test]
async fn unused_pages_cut_short_by_their_walk_still_list_every_tag() {
    let (app, store) = flaky_app();
    for dir in ["registry-2.8/basic", "registry-2.8/auth"] {
        for (name, body) in fixture_bodies(dir) {
            let answer = post_events(&app, "/events", V1, body).await;
            assert_eq!(answer.status, StatusCode::OK, "{dir}/{name}");
        }
    }
    let ndjson = |path: String| {
        let app = app.clone();
        async move {
            let auth = format!("Bearer {READ_TOKEN}");
            let answer = get_with(&app, &path, &[("authorization", auth.as_str())]).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            answer
                .text()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<serde_json::Value>>()
        }
    };
    // Since 20:56 only team/app:1.0 is unused; since 20:57 all three tags are.
    for since in ["2026-11-22T20:56:00Z", "2026-11-22T20:57:00Z"] {
        let json = format!("/api/v1/unused?since={since}&limit=2");
        let streamed = format!("/api/v1/unused.ndjson?since={since}");
        let whole = all_pages(&app, &json).await;
        assert!(!whole.is_empty(), "{json}");
        assert_eq!(ndjson(streamed.clone()).await, whole, "{streamed}");

        store.set_unused_walk(1);
        assert_eq!(all_pages(&app, &json).await, whole, "{json} a tag a page");
        assert_eq!(ndjson(streamed.clone()).await, whole, "{streamed} a tag a page");
        let first = get_ok(&app, &json).await;
        assert!(items(&first).len() <= 1, "{first}");
        assert!(first["next"].is_string(), "a walk of one tag among three ends no list: {first}");
        store.set_unused_walk(0);
    }
    // library/alpine-test:latest, the first tag in the list's order, was moved at 20:56:05:
    // a page that examines only it is empty, and the list goes on.
    store.set_unused_walk(1);
    let first = get_ok(&app, "/api/v1/unused?since=2026-11-22T20:56:00Z&limit=5").await;
    assert!(items(&first).is_empty() && first["next"].is_string(), "{first}");
}

#[tokio::test]
async fn unused_lists_the_tags_neither_pushed_nor_pulled_since_an_instant() {
    let app = loaded().await;
    let names = |items: &[serde_json::Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| format!("{}:{}", i["repository"].as_str().unwrap(), i["tag"].as_str().unwrap()))
            .collect()
    };
    // team/app:1.0 was pushed at 20:55:56 and last pulled at 20:55:57; library/multi:2.0 was
    // pulled at 20:56:05; library/alpine-test:latest was moved at 20:56:05 and never pulled.
    let all = get_ok(&app, "/api/v1/unused?since=9999-01-01T00:00:00Z").await;
    assert_eq!(names(items(&all)), ["library/alpine-test:latest", "library/multi:2.0", "team/app:1.0"]);
    let app_item = items(&all).iter().find(|i| i["repository"] == "team/app").unwrap();
    assert_eq!(app_item["pushed_at"], "2026-11-22T20:55:56.284463Z", "{app_item}");
    assert_eq!(app_item["last_pulled"], "2026-11-22T20:55:57.807853Z", "{app_item}");
    let alpine = items(&all).iter().find(|i| i["repository"] == "library/alpine-test").unwrap();
    assert_eq!(alpine["last_pulled"], serde_json::Value::Null, "{alpine}");
    // The inventory's items are the same tags, without their use.
    let inventory = get_ok(&app, "/api/v1/inventory").await;
    assert_eq!(names(items(&inventory)), names(items(&all)));
    assert!(items(&inventory).iter().all(|i| i.get("last_pulled").is_none()), "{inventory}");

    for (since, expected) in [
        ("2026-11-22T20:55:57.807853Z", vec![]),
        ("2026-11-22T20:56:00Z", vec!["team/app:1.0"]),
        ("2026-11-22T21:56:00%2B01:00", vec!["team/app:1.0"]),
        ("2026-11-22T20:57:00Z", vec!["library/alpine-test:latest", "library/multi:2.0", "team/app:1.0"]),
    ] {
        let path = format!("/api/v1/unused?since={since}&limit=1");
        assert_eq!(names(&all_pages(&app, &path).await), expected, "{path}");
        let auth = format!("Bearer {READ_TOKEN}");
        for (path, accept) in [
            (format!("/api/v1/unused.ndjson?since={since}"), None),
            (format!("/api/v1/unused?since={since}&limit=1"), Some("application/x-ndjson")),
        ] {
            let mut headers = vec![("authorization", auth.as_str())];
            headers.extend(accept.map(|a| ("accept", a)));
            let answer = get_with(&app, &path, &headers).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            assert_eq!(answer.headers[header::CONTENT_TYPE], "application/x-ndjson", "{path}");
            let lines: Vec<serde_json::Value> =
                answer.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(names(&lines), expected, "{path}");
        }
    }
    assert!(
        items(&get_ok(&app, "/api/v1/unused?since=2026-11-22T20:57:00Z&registry=elsewhere").await).is_empty()
    );
    let under = get_ok(&app, "/api/v1/unused?since=2026-11-22T20:57:00Z&prefix=library/&tag=latest").await;
    assert_eq!(names(items(&under)), ["library/alpine-test:latest"]);
    let under = get_ok(&app, "/api/v1/unused?since=2026-11-22T20:56:00Z&q=app&tag=1.0").await;
    assert_eq!(names(items(&under)), ["team/app:1.0"]);
    for bad in ["", "since=yesterday", "since=", "since=2026-11-22", "since=2026-11-22T20:57:00Z&unknown=1"] {
        expect_error(&app, &format!("/api/v1/unused?{bad}"), StatusCode::BAD_REQUEST, "invalid_parameter")
            .await;
        expect_error(
            &app,
            &format!("/api/v1/unused.ndjson?{bad}"),
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        )
        .await;
    }
}

#[tokio::test]
async fn the_inventory_stream_reports_an_unavailable_store_before_it_starts() {
    let (app, store) = flaky_app();
    store.set_down(true);
    let answer = get(&app, "/api/v1/inventory.ndjson").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.error_code(), "store_unavailable");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_the_error_body() {
    let app = app();
    let missing = get(&app, "/api/v1/nothing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
    let wrong_method = get(&app, "/events").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
}
