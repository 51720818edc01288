//! The one error shape every endpoint answers with: `{"error": {"code": …, "message": …}}`.
//!
//! `code` is a stable machine-readable word; `message` is for people. A 503 always carries
//! `Retry-After`, because the registry and well-behaved clients retry it.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use notify_core::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable error code.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
    /// `Retry-After`, for 503s.
    pub retry_after: Option<Duration>,
    /// `WWW-Authenticate` challenges, for 401s.
    pub challenges: Vec<HeaderValue>,
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_parameter`, `invalid_cursor`, `not_found`,
    /// `unauthorized`, `payload_too_large`, `unsupported_media_type`, `malformed_envelope`,
    /// `store_unavailable`, `timeout`, `internal`.
    #[schema(example = "invalid_parameter")]
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None, challenges: Vec::new() }
    }

    /// 400 for a query parameter that cannot be used.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: Duration) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// Maps a store error of a read: client mistakes are 400, an unreachable store 503, and
    /// anything else 500 with the details in the log rather than in the answer.
    pub fn from_storage(e: &StorageError, retry_after: Duration) -> Self {
        match e {
            StorageError::InvalidCursor(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                format!("{e}: pass back the `next` value of a previous page unchanged"),
            ),
            StorageError::InvalidQuery(_) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
            }
            StorageError::Unavailable { .. } => {
                Self::unavailable("store_unavailable", "the store is unavailable; retry later", retry_after)
            }
            StorageError::Rejected { .. } | StorageError::Internal { .. } => {
                tracing::error!(error = %e, "store error on a read");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "store error; see the server log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(after) = self.retry_after {
            // Retry-After takes whole seconds; round up so that a client never retries early.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        for challenge in self.challenges {
            headers.append(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
