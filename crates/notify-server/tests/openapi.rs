//! The OpenAPI document against the router that serves it: it parses, it lists exactly the
//! routes the router serves, and every documented operation answers with a documented status
//! and a body that fits the documented schema.

// Test helpers unwrap like the tests do: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::Value;

/// What the router serves, written out independently of the document.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/events"),
    ("post", "/events/{registry}"),
    ("get", "/api/v1/repositories"),
    ("get", "/api/v1/repositories/stats"),
    ("get", "/api/v1/tags"),
    ("get", "/api/v1/tags/at"),
    ("get", "/api/v1/tags/history"),
    ("get", "/api/v1/digests/{digest}"),
    ("get", "/api/v1/digests/{digest}/repositories"),
    ("get", "/api/v1/digests/{digest}/referrers"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/inventory"),
    ("get", "/api/v1/inventory.ndjson"),
    ("get", "/api/v1/unused"),
    ("get", "/api/v1/unused.ndjson"),
    ("get", "/api/v1/quarantine"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "delete", "patch", "head"].contains(&m.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect()
}

async fn served_document(app: &axum::Router) -> Value {
    let answer = get_with(app, "/api/v1/openapi.json", &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    answer.json()
}

#[tokio::test]
async fn the_document_parses_and_lists_exactly_the_served_routes() {
    let app = app();
    let doc = served_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(operations(&doc), expected);
    // The same document as a value, for tools.
    let value = serde_json::to_value(notify_server::openapi_document(&config())).unwrap();
    assert_eq!(value, doc);
    for scheme in ["webhook_bearer", "webhook_basic", "api_bearer"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object(), "{scheme}");
    }
    // Every reference resolves.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(doc["components"]["schemas"][name].is_object(), "dangling $ref {name}");
    }
}

/// A small checker for the JSON Schema subset utoipa writes: `$ref`, `type` (one or a list),
/// `oneOf`, `properties`/`required`, `items`, `enum`. Keys the schema does not declare are
/// errors too, so an answer cannot carry undocumented fields.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        return if options.iter().any(|o| check(doc, o, value, at).is_ok()) {
            Ok(())
        } else {
            Err(format!("{at}: {value} matches no oneOf option"))
        };
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(value) {
            return Err(format!("{at}: {value} not in {values:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            return Err(format!("{at}: {actual} is not {types:?}"));
        }
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object()) {
        for required in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(required.as_str().unwrap()) {
                return Err(format!("{at}: required {required} missing"));
            }
        }
        for (key, v) in object {
            let Some(s) = properties.get(key) else {
                return Err(format!("{at}: undocumented field {key}"));
            };
            check(doc, s, v, &format!("{at}.{key}"))?;
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(doc, items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn sample(name: &str) -> &'static str {
    match name {
        "repository" => "team/app",
        "tag" => "1.0",
        "digest" => DIGEST_A,
        "registry" => "127.0.0.1:5055",
        // Late enough that every tag is unused, so the items are checked against the schema.
        "since" => "2100-01-01T00:00:00Z",
        // Late enough that the tags it lists are checked against the schema.
        "at" => "2100-01-01T00:00:00Z",
        other => panic!("no sample value for required parameter {other}"),
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let app = app();
    for (_, body) in fixture_bodies("registry-2.8/basic") {
        assert_eq!(post_events(&app, "/events", V1, body).await.status, StatusCode::OK);
    }
    let doc = served_document(&app).await;
    let quarantined = envelope(&[serde_json::json!({"id": "q", "action": "push"})]);
    assert_eq!(post_events(&app, "/events", V1, quarantined).await.status, StatusCode::OK);

    for (method, path) in operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        let mut url = path.clone();
        let mut query = Vec::new();
        for p in operation["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str().unwrap() {
                "path" => url = url.replace(&format!("{{{name}}}"), sample(name)),
                "query" if p["required"] == true => query.push(format!("{name}={}", sample(name))),
                _ => {}
            }
        }
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        let request = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
            .uri(&url)
            .header(
                "authorization",
                if method == "post" {
                    format!("Bearer {WEBHOOK_TOKEN}")
                } else {
                    format!("Bearer {READ_TOKEN}")
                },
            );
        let request = if method == "post" {
            request
                .header("content-type", V1)
                .body(Body::from(envelope(&[push_event("x", "team/app", "2.0", DIGEST_A)])))
        } else {
            request.body(Body::empty())
        };
        let answer = send(&app, request.unwrap()).await;
        let status = answer.status.as_str().to_owned();
        let response = &operation["responses"][&status];
        assert!(response.is_object(), "{method} {url} answered {status}, not documented: {}", answer.text());
        let content_type =
            answer.headers["content-type"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let Some(schema) = response["content"][&content_type].get("schema") else {
            panic!("{method} {url}: content type {content_type} not documented for {status}");
        };
        match content_type.as_str() {
            "application/json" => {
                check(&doc, schema, &answer.json(), &format!("{method} {url}"))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    path == "/api/v1/openapi.json" || !answer.json().as_object().unwrap().is_empty(),
                    "{method} {url}: empty answer"
                );
            }
            "application/x-ndjson" => {
                let lines: Vec<Value> =
                    answer.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
                assert!(!lines.is_empty(), "{url}");
                for line in lines {
                    check(&doc, schema, &line, &url).unwrap_or_else(|e| panic!("{e}"));
                }
            }
            "text/plain" => assert!(answer.text().contains("notify_events_received_total")),
            other => panic!("unexpected content type {other}"),
        }
    }
}

#[tokio::test]
async fn documented_error_answers_fit_the_error_schema() {
    let app = app();
    let doc = served_document(&app).await;
    let error_schema = serde_json::json!({"$ref": "#/components/schemas/ErrorBody"});
    for (path, status) in [
        ("/api/v1/repositories?limit=0", "400"),
        ("/api/v1/digests/sha256:0", "400"),
        (&format!("/api/v1/digests/sha256:{}", "1".repeat(64)) as &str, "404"),
        ("/api/v1/tags?repository=no/such", "404"),
    ] {
        let answer = get(&app, path).await;
        assert_eq!(answer.status.as_str(), status, "{path}");
        check(&doc, &error_schema, &answer.json(), path).unwrap();
    }
    let extra = serde_json::json!({"error": {"code": "x", "message": "y", "hint": "z"}});
    assert!(check(&doc, &error_schema, &extra, "checker").is_err(), "the checker sees undocumented fields");
    let unauthorized = get_with(&app, "/api/v1/events", &[]).await;
    check(&doc, &error_schema, &unauthorized.json(), "401").unwrap();
}

#[tokio::test]
async fn a_configured_webhook_path_is_served_and_documented() {
    let mut config = config();
    config.webhook.path = "/hooks/registry".to_owned();
    let app = notify_server::router(&config, std::sync::Arc::new(notify_core::MemoryStore::new()));
    let doc = served_document(&app).await;
    let ops = operations(&doc);
    assert!(ops.contains(&("post".into(), "/hooks/registry".into())));
    assert!(ops.contains(&("post".into(), "/hooks/registry/{registry}".into())));
    assert!(!ops.iter().any(|(_, p)| p.starts_with("/events")));
    let body = envelope(&[push_event("x", "team/app", "1.0", DIGEST_A)]);
    assert_eq!(post_events(&app, "/hooks/registry", V1, body.clone()).await.status, StatusCode::OK);
    assert_eq!(post_events(&app, "/hooks/registry/r.example", V1, body.clone()).await.status, StatusCode::OK);
    assert_eq!(post_events(&app, "/events", V1, body).await.status, StatusCode::NOT_FOUND);
}
