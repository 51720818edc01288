//! Assembles the HTTP surface: webhook, query API, operations endpoints and the layers every
//! request passes through (tracing, timeout, JSON errors for unknown routes).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use notify_core::Storage;
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::error::ApiError;
use crate::ops::OpenApiJson;
use crate::state::AppState;
use crate::{api, openapi, ops, webhook};

/// Builds the router for a configuration and an opened store.
pub fn router(config: &Config, store: Arc<dyn Storage>) -> Router {
    router_with_state(config, AppState::new(config, store))
}

/// Builds the router around an existing state (to read its metrics, say).
pub fn router_with_state(config: &Config, state: AppState) -> Router {
    let (router, doc) = documented_routes(config, state.clone());
    let doc_json = serde_json::to_string_pretty(&doc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot render the OpenAPI document");
        "{}".to_owned()
    });
    let path = &config.webhook.path;
    let webhook_routes = Router::new()
        .route(path, post(webhook::receive))
        .route(&format!("{path}/{{registry}}"), post(webhook::receive_for_registry));
    let timeouts = Timeouts { request: config.request_timeout, retry_after: config.webhook.retry_after };
    router
        .merge(webhook_routes)
        .fallback(|| async { ApiError::not_found("no such route; see /api/v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(Extension(OpenApiJson(Arc::new(doc_json))))
        .layer(middleware::from_fn_with_state(timeouts, timeout))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                // A 503 during a store outage is the protocol working (the registry retries),
                // and the handlers already log why at WARN; an ERROR per retry would drown
                // the logs of an outage.
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .with_state(state)
}

/// The OpenAPI document the router serves, as a value (for tools and tests).
pub fn openapi_document(config: &Config) -> utoipa::openapi::OpenApi {
    let state = AppState::new(config, Arc::new(notify_core::MemoryStore::new()));
    documented_routes(config, state).1
}

fn documented_routes(config: &Config, state: AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let query_api = OpenApiRouter::new()
        .routes(routes!(api::list_repositories))
        .routes(routes!(api::repository_stats))
        .routes(routes!(api::list_tags))
        .routes(routes!(api::tags_at))
        .routes(routes!(api::tag_history))
        .routes(routes!(api::get_digest))
        .routes(routes!(api::list_digest_repositories))
        .routes(routes!(api::list_digest_referrers))
        .routes(routes!(api::list_events))
        .routes(routes!(api::inventory))
        .routes(routes!(api::inventory_ndjson))
        .routes(routes!(api::unused))
        .routes(routes!(api::unused_ndjson))
        .routes(routes!(api::list_quarantine))
        .route_layer(middleware::from_fn_with_state(state.clone(), api::require_read_token))
        .route_layer(middleware::from_fn_with_state(state, api::observe));
    let operations = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi_json));
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(query_api)
        .merge(operations)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    openapi::add_webhook(&mut doc, &config.webhook.path);
    (router, doc)
}

#[derive(Clone, Copy)]
struct Timeouts {
    request: Duration,
    retry_after: Duration,
}

/// Bounds the time to a response head (a streamed body may take longer). A timeout is a 503
/// with `Retry-After` and the usual error body, never a 4xx: the registry must retry it.
/// (`tower_http`'s `TimeoutLayer` answers with an empty body and no `Retry-After`.)
async fn timeout(State(t): State<Timeouts>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(t.request, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?t.request, "request timed out");
            ApiError::unavailable(
                "timeout",
                format!("the request took longer than {}", humantime::format_duration(t.request)),
                t.retry_after,
            )
            .into_response()
        }
    }
}
