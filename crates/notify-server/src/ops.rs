//! Endpoints for operators and orchestrators: liveness, readiness, metrics and the OpenAPI
//! document. None of them needs credentials: they reveal no stored data.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The answer of the probes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` (process up) or `ready` (store reachable).
    pub status: &'static str,
}

/// The OpenAPI document as served, rendered once at start.
#[derive(Debug, Clone)]
pub(crate) struct OpenApiJson(pub(crate) Arc<String>);

/// The process is up (liveness). Touches nothing else, so a slow store never gets a healthy
/// process restarted.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Status))
)]
pub(crate) async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The store can take writes now (readiness): a load balancer should send traffic here.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The store is reachable", body = Status),
        (status = 503, description = "The store is not reachable", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds"))),
    )
)]
pub(crate) async fn readyz(State(app): State<AppState>) -> Result<Json<Status>, ApiError> {
    let shared = app.shared();
    match shared.store.ping().await {
        Ok(()) => Ok(Json(Status { status: "ready" })),
        Err(e) => {
            shared.metrics.store_error("ping", &e);
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::unavailable(
                "store_unavailable",
                format!("the store is not ready: {e}"),
                shared.retry_after,
            ))
        }
    }
}

/// Metrics in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics(State(app): State<AppState>) -> Response {
    let shared = app.shared();
    // A store that cannot answer leaves the last figure, and counts the error.
    match shared.store.backlog().await {
        Ok(n) => shared.metrics.backlog(n),
        Err(e) => shared.metrics.store_error("backlog", &e),
    }
    let mut response = app.metrics().render().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    let mut response = doc.0.as_str().to_owned().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
