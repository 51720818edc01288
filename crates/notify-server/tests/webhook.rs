//! The webhook through the real router: credentials, limits, content types, malformed bodies,
//! every fixture envelope, redeliveries, quarantine and an unavailable store.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use notify_core::{Policy, Storage as _, parse_envelope, translate};
use notify_server::config::{ApiAuth, Config, Secret, WebhookAuth};
use std::sync::Arc;

fn raw_post(path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::builder().method(Method::POST).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(body.into()).unwrap()
}

fn one_push() -> Vec<u8> {
    envelope(&[push_event("e1", "team/app", "1.0", DIGEST_A)])
}

#[tokio::test]
async fn bearer_token_is_required_and_checked() {
    let app = app();
    let accepted = post_events(&app, "/events", V1, one_push()).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text());
    assert_eq!(accepted.json()["applied"], 1);

    for auth in [None, Some("Bearer wrong"), Some("Basic czNjcmV0"), Some("s3cret")] {
        let mut headers = vec![("content-type", V1)];
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        let refused = send(&app, raw_post("/events", &headers, one_push())).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(refused.error_code(), "unauthorized");
        let challenge = refused.headers.get(header::WWW_AUTHENTICATE).unwrap().to_str().unwrap();
        assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    }
}

#[tokio::test]
async fn basic_credentials_are_accepted_when_configured() {
    let config = Config::with_auth(
        WebhookAuth::Credentials { bearer: None, basic: Some(("registry".into(), Secret::new("pw"))) },
        ApiAuth::Disabled,
    );
    let app = notify_server::router(&config, Arc::new(notify_core::MemoryStore::new()));
    // base64("registry:pw")
    let ok = send(
        &app,
        raw_post("/events", &[("content-type", V2), ("authorization", "Basic cmVnaXN0cnk6cHc=")], one_push()),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    // base64("registry:no")
    let wrong = send(
        &app,
        raw_post("/events", &[("content-type", V2), ("authorization", "Basic cmVnaXN0cnk6bm8=")], one_push()),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers[header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic realm="));
    let bearer =
        send(&app, raw_post("/events", &[("content-type", V2), ("authorization", "Bearer pw")], one_push()))
            .await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn authentication_can_be_disabled_explicitly() {
    let config = Config::with_auth(WebhookAuth::Disabled, ApiAuth::Disabled);
    let app = notify_server::router(&config, Arc::new(notify_core::MemoryStore::new()));
    let ok = send(&app, raw_post("/events", &[("content-type", "application/json")], one_push())).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let tags = get_with(&app, "/api/v1/tags?repository=team/app", &[]).await;
    assert_eq!(tags.status, StatusCode::OK);
    assert_eq!(tag_names(&tags.json()), ["1.0"]);
}

#[tokio::test]
async fn credentials_are_checked_before_anything_else() {
    let app = app();
    let huge = vec![b'x'; 5 * 1024 * 1024];
    let refused = send(&app, raw_post("/events", &[("content-type", "text/plain")], huge)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let app = app();
    let auth = format!("Bearer {WEBHOOK_TOKEN}");
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    let declared =
        send(&app, raw_post("/events", &[("content-type", V1), ("authorization", &auth)], huge.clone()))
            .await;
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", declared.text());
    assert_eq!(declared.error_code(), "payload_too_large");

    // Without a Content-Length (chunked), the limit applies while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        huge.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let streamed = Body::from_stream(futures_util::stream::iter(chunks));
    let chunked =
        send(&app, raw_post("/events", &[("content-type", V1), ("authorization", &auth)], streamed)).await;
    assert_eq!(chunked.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", chunked.text());
}

#[tokio::test]
async fn other_content_types_are_refused_with_415() {
    let app = app();
    for ct in ["text/plain", "application/xml", "application/vnd.docker.distribution.events.v3+json"] {
        let answer = post_events(&app, "/events", ct, one_push()).await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(answer.error_code(), "unsupported_media_type");
        assert!(answer.json()["error"]["message"].as_str().unwrap().contains(V1));
    }
    let missing =
        send(&app, raw_post("/events", &[("authorization", &format!("Bearer {WEBHOOK_TOKEN}"))], one_push()))
            .await;
    assert_eq!(missing.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for ok in [V1, V2, "application/json", "application/json; charset=utf-8"] {
        assert_eq!(post_events(&app, "/events", ok, one_push()).await.status, StatusCode::OK, "{ok}");
    }
}

#[tokio::test]
async fn garbage_is_refused_with_400_saying_what_and_where() {
    let app = app();
    let cases: [(&[u8], &str); 4] = [
        (b"{\"events\": [1,", "line 1 column"),
        (b"not json at all", "line 1 column 1"),
        (b"{\"evnts\": []}", "missing field `events`"),
        (b"[1, 2]", "must be a JSON object"),
    ];
    for (body, expected) in cases {
        let answer = post_events(&app, "/events", V1, body.to_vec()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
        assert_eq!(answer.error_code(), "malformed_envelope");
        let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
}

/// Feeds one fixture directory through the webhook and checks every answer.
async fn feed(app: &axum::Router, dir: &str, content_type: &str) -> usize {
    let mut events = 0;
    for (name, body) in fixture_bodies(dir) {
        let answer = post_events(app, "/events", content_type, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{dir}/{name}: {}", answer.text());
        let summary = answer.json();
        assert_eq!(summary["quarantined"], 0, "{dir}/{name}: {summary}");
        assert_eq!(summary["applied"], summary["received"], "{dir}/{name}: {summary}");
        events += summary["received"].as_u64().unwrap() as usize;
    }
    events
}

/// The store the same fixtures build when applied directly, without HTTP.
async fn reference(dir: &str) -> notify_core::MemoryStore {
    let store = notify_core::MemoryStore::new();
    for (_, body) in fixture_bodies(dir) {
        for event in parse_envelope(&body, Some("application/json")).unwrap().events {
            store.apply(&translate(&event.unwrap(), &Policy::default()).unwrap()).await.unwrap();
        }
    }
    store
}

const REGISTRY: &str = "127.0.0.1:5055";

#[tokio::test]
async fn every_registry_2_8_fixture_is_accepted_and_visible_through_the_api() {
    for dir in ["registry-2.8/basic", "registry-2.8/auth"] {
        let app = app();
        let events = feed(&app, dir, V1).await;
        let reference = reference(dir).await;

        let log = get_ok(&app, "/api/v1/events?limit=1000").await;
        assert_eq!(log["items"].as_array().unwrap().len(), events, "{dir}");
        assert!(log["items"][0]["raw"].is_object(), "raw is embedded JSON");

        let repos = get_ok(&app, "/api/v1/repositories").await;
        let direct = reference.repositories(&Default::default()).await.unwrap();
        assert_eq!(repos["items"].as_array().unwrap().len(), direct.items.len(), "{dir}");
        for repo in &direct.items {
            let path = format!("/api/v1/tags?registry={}&repository={}", repo.registry, repo.repository);
            let tags = get_ok(&app, &path).await;
            let want = reference
                .tags(
                    &notify_core::RepoRef {
                        registry: repo.registry.clone(),
                        repository: repo.repository.clone(),
                    },
                    &Default::default(),
                )
                .await
                .unwrap();
            assert_eq!(tags, serde_json::to_value(&want).unwrap(), "{dir} {path}");
        }
        let inventory = get_ok(&app, "/api/v1/inventory").await;
        let want = reference.inventory(&Default::default()).await.unwrap();
        assert_eq!(inventory, serde_json::to_value(&want).unwrap(), "{dir}");
    }

    // What the scenario left behind, spelt out.
    let app = app();
    feed(&app, "registry-2.8/basic", V1).await;
    let tags = |repo: &str| format!("/api/v1/tags?registry={REGISTRY}&repository={repo}");
    assert_eq!(tag_names(&get_ok(&app, &tags("library/alpine-test")).await), ["latest"]);
    assert_eq!(tag_names(&get_ok(&app, &tags("team/app")).await), ["1.0"]);
    assert_eq!(tag_names(&get_ok(&app, &tags("library/multi")).await), ["2.0"]);
    let history = get_ok(&app, "/api/v1/tags/history?repository=library/alpine-test&tag=1.0").await;
    assert_eq!(history["items"][0]["digest"], serde_json::Value::Null, "newest first: the delete");
    assert_eq!(history["items"][1]["digest"], DIGEST_A);
}

#[tokio::test]
async fn every_registry_3_fixture_is_accepted_as_v2_and_visible_through_the_api() {
    let app = app();
    let events = feed(&app, "registry-3-shape", V2).await;
    assert_eq!(events, 36);
    let tags = get_ok(&app, &format!("/api/v1/tags?registry={REGISTRY}&repository=library/multi")).await;
    assert_eq!(tag_names(&tags), Vec::<String>::new(), "036 deleted 2.0 by name");
    let reference = reference("registry-3-shape").await;
    let inventory = get_ok(&app, "/api/v1/inventory").await;
    assert_eq!(
        inventory,
        serde_json::to_value(reference.inventory(&Default::default()).await.unwrap()).unwrap()
    );
}

#[tokio::test]
async fn redelivered_envelopes_change_nothing() {
    let app = app();
    feed(&app, "registry-2.8/basic", V1).await;
    let before_repos = get_ok(&app, "/api/v1/repositories").await;
    let before_stats = get_ok(&app, "/api/v1/repositories/stats?repository=team/app").await;
    let before_log = get_ok(&app, "/api/v1/events?limit=1000").await;
    for (name, body) in fixture_bodies("registry-2.8/basic") {
        let answer = post_events(&app, "/events", V1, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
        assert_eq!(answer.json()["duplicate"], answer.json()["received"], "{name}");
        assert_eq!(answer.json()["applied"], 0, "{name}");
    }
    assert_eq!(get_ok(&app, "/api/v1/repositories").await, before_repos);
    assert_eq!(get_ok(&app, "/api/v1/repositories/stats?repository=team/app").await, before_stats);
    assert_eq!(get_ok(&app, "/api/v1/events?limit=1000").await, before_log);
    let metrics = get_with(&app, "/metrics", &[]).await.text();
    assert!(
        metrics.contains("notify_events_received_total{action=\"push\",outcome=\"duplicate\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn events_that_cannot_be_modelled_are_quarantined_with_2xx() {
    let app = app();
    let mut bad_digest = push_event("bad-digest", "team/app", "1.0", DIGEST_A);
    bad_digest["target"]["digest"] = "sha256:not-hex".into();
    let mut no_digest = push_event("no-digest", "team/app", "1.1", DIGEST_A);
    no_digest["target"].as_object_mut().unwrap().remove("digest");
    let body = envelope(&[
        push_event("good", "team/app", "1.0", DIGEST_A),
        bad_digest,
        no_digest,
        serde_json::json!(42),
    ]);
    let answer = post_events(&app, "/events", V1, body.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        answer.json(),
        serde_json::json!({"received": 4, "applied": 1, "duplicate": 0, "quarantined": 3})
    );

    let quarantine = get_ok(&app, "/api/v1/quarantine").await;
    let items = quarantine["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{quarantine}");
    let by_key = |key: &str| {
        items.iter().find(|i| i["key"] == key).unwrap_or_else(|| panic!("{key} missing: {quarantine}"))
    };
    let reason = by_key("id:bad-digest")["reason"].as_str().unwrap();
    assert!(reason.contains("target.digest"), "{reason}");
    assert!(by_key("id:bad-digest")["raw"].as_str().unwrap().contains("sha256:not-hex"));
    assert!(by_key("id:no-digest")["reason"].as_str().unwrap().contains("needs target.digest"));
    assert_eq!(by_key("id:no-digest")["registry"], "registry.test");
    assert!(items.iter().any(|i| i["raw"] == "42" && i["key"].as_str().unwrap().starts_with("sha256:")));
    // The received_at is the server's clock, not the event's.
    let received: chrono::DateTime<chrono::Utc> = items[0]["received_at"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now() - received).num_seconds().abs() < 60);

    // Redelivery: quarantined again as the same records.
    let again = post_events(&app, "/events", V1, body).await;
    assert_eq!(
        again.json(),
        serde_json::json!({"received": 4, "applied": 0, "duplicate": 1, "quarantined": 3})
    );
    assert_eq!(get_ok(&app, "/api/v1/quarantine").await["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_event_the_store_refuses_for_good_is_quarantined_with_the_reason() {
    let (app, store) = flaky_app();
    store.set_apply_rejects(true);
    let answer = post_events(&app, "/events", V1, one_push()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["quarantined"], 1);
    let quarantine = get_ok(&app, "/api/v1/quarantine").await;
    let reason = quarantine["items"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("the store refused it") && reason.contains("value out of range"), "{reason}");
}

#[tokio::test]
async fn an_unavailable_store_gets_503_with_retry_after_and_nothing_is_lost() {
    let (app, store) = flaky_app();
    let bodies = fixture_bodies("registry-2.8/basic");
    let (first_half, second_half) = bodies.split_at(bodies.len() / 2);
    for (_, body) in first_half {
        assert_eq!(post_events(&app, "/events", V1, body.clone()).await.status, StatusCode::OK);
    }

    store.set_down(true);
    for (name, body) in second_half.iter().take(3) {
        let answer = post_events(&app, "/events", V1, body.clone()).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
        assert_eq!(answer.error_code(), "store_unavailable");
        assert_eq!(answer.headers[header::RETRY_AFTER], "5");
    }
    let ready = get_with(&app, "/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(get_with(&app, "/healthz", &[]).await.status, StatusCode::OK);
    let read = get(&app, "/api/v1/repositories").await;
    assert_eq!(read.status, StatusCode::SERVICE_UNAVAILABLE);

    // The store comes back; the registry resends from the first unacknowledged envelope.
    store.set_down(false);
    assert_eq!(get_with(&app, "/readyz", &[]).await.status, StatusCode::OK);
    for (name, body) in second_half {
        let answer = post_events(&app, "/events", V1, body.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
    }
    let reference = reference("registry-2.8/basic").await;
    let inventory = get_ok(&app, "/api/v1/inventory").await;
    assert_eq!(
        inventory,
        serde_json::to_value(reference.inventory(&Default::default()).await.unwrap()).unwrap()
    );
    let log = get_ok(&app, "/api/v1/events?limit=1000").await;
    assert_eq!(log["items"].as_array().unwrap().len(), bodies.len());

    let metrics = get_with(&app, "/metrics", &[]).await.text();
    assert!(
        metrics.contains("notify_store_errors_total{kind=\"unavailable\",operation=\"apply\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_registry_in_the_path_names_every_event_of_the_request() {
    let app = app();
    let answer = post_events(&app, "/events/Registry.Example.com:5000", V1, one_push()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let repos = get_ok(&app, "/api/v1/repositories").await;
    assert_eq!(repos["items"][0]["registry"], "registry.example.com:5000");
    let bad = post_events(&app, "/events/a%20b", V1, one_push()).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metrics_count_events_by_action_and_outcome() {
    let app = app();
    feed(&app, "registry-2.8/auth", V1).await;
    let metrics = get_with(&app, "/metrics", &[]).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let text = metrics.text();
    for line in [
        "notify_events_received_total{action=\"push\",outcome=\"applied\"} 3",
        "notify_events_received_total{action=\"pull\",outcome=\"applied\"} 3",
        "notify_events_received_total{action=\"delete\",outcome=\"applied\"} 2",
        "notify_ingest_duration_seconds_count 8",
        "notify_ingest_lag_seconds_count 8",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    post_events(&app, "/events", "text/plain", one_push()).await;
    let text = get_with(&app, "/metrics", &[]).await.text();
    assert!(text.contains("notify_webhook_rejected_total{reason=\"content_type\"} 1"), "{text}");
}
