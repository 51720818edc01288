//! The webhook endpoint: `POST /events` and `POST /events/{registry}` (path configurable).
//!
//! The registry delivers one envelope at a time per endpoint, at least once, and resends any
//! answer outside 2xx/3xx forever, blocking everything queued behind it. So the answer is:
//! - **2xx** only once every event of the envelope is durably stored: applied, found to be a
//!   duplicate, or quarantined with its raw JSON and the reason it could not be modelled (an
//!   event that does not parse or translate, or one the store refuses for good);
//! - **503** with `Retry-After` when the store is unavailable, so the registry resends the
//!   envelope later; events stored before the failure are duplicates then, and each event is
//!   stored atomically, so nothing is half-written;
//! - **4xx** only for requests that are not a registry's envelope at all, checked in this
//!   order: credentials (401), body size (413), content type (415), JSON shape (400). A
//!   registry configured with this server's `registry-config` output never sees one.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use notify_core::{
    Action, ApplyOutcome, EnvelopeError, Event, EventError, Policy, Timestamp, check_content_type,
    parse_envelope, query::QuarantineRecord, translate,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::{canonical_registry, check_registry_name};
use crate::error::{ApiError, ErrorBody};
use crate::metrics::{EventOutcome, action_label};
use crate::state::AppState;

/// The answer to an accepted envelope.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IngestSummary {
    /// Events in the envelope.
    pub received: usize,
    /// Events stored now.
    pub applied: usize,
    /// Events stored before (redeliveries).
    pub duplicate: usize,
    /// Events kept in quarantine, with the reason, because they cannot be modelled.
    pub quarantined: usize,
}

/// A notification envelope as the registry sends it (see `notify_core::Envelope`); events that
/// cannot be modelled are quarantined, not refused.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Envelope {
    /// Registry events, in the order the registry generated them.
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Receives an envelope of registry events; the registry is named by the event's `request.host`
/// (mapped through the configured aliases) or the configured fixed name.
#[utoipa::path(
    post,
    path = "/events",
    tag = "webhook",
    request_body(
        description = "A notification envelope. Accepted content types: \
            application/vnd.docker.distribution.events.v1+json (registry 2.x), \
            application/vnd.docker.distribution.events.v2+json (registry 3.x), application/json.",
        content(
            (Envelope = "application/vnd.docker.distribution.events.v1+json"),
            (Envelope = "application/vnd.docker.distribution.events.v2+json"),
            (Envelope = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Every event is stored (applied, duplicate or quarantined)", body = IngestSummary),
        (status = 400, description = "The body is not a notification envelope; the message says what and where", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "The accepted schemes"))),
        (status = 413, description = "The body is larger than the configured limit", body = ErrorBody),
        (status = 415, description = "The content type is not an envelope type", body = ErrorBody),
        (status = 500, description = "The store refused even the quarantine record; the registry retries", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store is unavailable or the request timed out; the registry retries", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds"))),
    ),
    security(("webhook_bearer" = []), ("webhook_basic" = []))
)]
pub async fn receive(State(app): State<AppState>, request: Request) -> Response {
    ingest(&app, None, request).await
}

/// Receives an envelope of registry events sent by the registry named in the path, which
/// overrides the events' `request.host` for this request (useful when several registries
/// notify one server).
#[utoipa::path(
    post,
    path = "/events/{registry}",
    tag = "webhook",
    params(("registry" = String, Path, description = "The registry's name, e.g. registry.example.com:5000")),
    request_body(
        description = "A notification envelope, as for POST /events.",
        content(
            (Envelope = "application/vnd.docker.distribution.events.v1+json"),
            (Envelope = "application/vnd.docker.distribution.events.v2+json"),
            (Envelope = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Every event is stored (applied, duplicate or quarantined)", body = IngestSummary),
        (status = 400, description = "The body is not a notification envelope, or the registry name is invalid", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "The accepted schemes"))),
        (status = 413, description = "The body is larger than the configured limit", body = ErrorBody),
        (status = 415, description = "The content type is not an envelope type", body = ErrorBody),
        (status = 500, description = "The store refused even the quarantine record; the registry retries", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds"))),
        (status = 503, description = "The store is unavailable or the request timed out; the registry retries", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds"))),
    ),
    security(("webhook_bearer" = []), ("webhook_basic" = []))
)]
pub async fn receive_for_registry(
    State(app): State<AppState>,
    Path(registry): Path<String>,
    request: Request,
) -> Response {
    ingest(&app, Some(registry), request).await
}

async fn ingest(app: &AppState, registry: Option<String>, request: Request) -> Response {
    let started = Instant::now();
    let response = match ingest_envelope(app, registry, request).await {
        Ok(summary) => (StatusCode::OK, Json(summary)).into_response(),
        Err(e) => e.into_response(),
    };
    app.metrics().ingest_duration(started.elapsed().as_secs_f64());
    response
}

fn rejected(app: &AppState, reason: &'static str, error: ApiError) -> ApiError {
    app.metrics().webhook_rejected(reason);
    tracing::info!(status = error.status.as_u16(), reason, message = %error.message, "webhook request refused");
    error
}

async fn ingest_envelope(
    app: &AppState,
    registry: Option<String>,
    request: Request,
) -> Result<IngestSummary, ApiError> {
    let shared = app.shared();
    let (parts, body) = request.into_parts();

    if let Err(failure) = shared.webhook_auth.check(&parts.headers) {
        let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", failure.message());
        e.challenges = shared.webhook_auth.challenges();
        return Err(rejected(app, "unauthorized", e));
    }
    if let Some(name) = &registry {
        check_registry_name(name).map_err(|m| rejected(app, "malformed", ApiError::invalid_parameter(m)))?;
    }

    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the {} bytes this server accepts", shared.max_body),
        )
    };
    let declared = declared_length(&parts.headers);
    if declared.is_some_and(|n| n > shared.max_body as u64) {
        drain(body, declared, shared.drain_time).await;
        return Err(rejected(app, "too_large", too_large()));
    }
    let body = match read_limited(body, declared, shared.max_body).await {
        Ok(bytes) => bytes,
        Err(BodyRead::TooLarge(rest)) => {
            drain(rest, declared, shared.drain_time).await;
            return Err(rejected(app, "too_large", too_large()));
        }
        Err(BodyRead::Failed(e)) => {
            return Err(rejected(
                app,
                "malformed",
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("cannot read the body: {e}"),
                ),
            ));
        }
    };

    // A header value that is not visible ASCII cannot name an envelope type either.
    let content_type = parts.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("(not text)"));
    if let Err(e) = check_content_type(content_type) {
        let e = ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", e.to_string());
        return Err(rejected(app, "content_type", e));
    }
    let envelope = parse_envelope(&body, content_type).map_err(|e| {
        let status = match e {
            EnvelopeError::Malformed { .. } => StatusCode::BAD_REQUEST,
            EnvelopeError::MissingContentType | EnvelopeError::UnsupportedContentType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
        };
        rejected(app, "malformed", ApiError::new(status, "malformed_envelope", e.to_string()))
    })?;

    let received_at = Timestamp::from_datetime(&chrono::Utc::now());
    let policy = match &registry {
        Some(name) => Policy { registry: Some(name.clone()), ..shared.policy.clone() },
        None => shared.policy.clone(),
    };
    let mut summary = IngestSummary { received: envelope.events.len(), ..IngestSummary::default() };
    // The events of one envelope are applied concurrently: the projection does not depend on
    // the order, and a store that shares commits between concurrent applies stores a large
    // envelope in a fraction of the time of one event after another.
    let policy = &policy;
    let outcomes: Vec<Result<Stored, ApiError>> = futures_util::stream::iter(envelope.events)
        .map(|parsed| async move {
            match parsed {
                Ok(event) => store_event(app, policy, event, received_at).await,
                Err(error) => {
                    let label = action_label(action_of_raw(&error.raw).as_ref());
                    let record = unparsed_record(&error, policy, received_at);
                    quarantine(app, label, record).await.map(|()| Stored::Quarantined)
                }
            }
        })
        .buffer_unordered(ENVELOPE_CONCURRENCY)
        .collect()
        .await;
    for outcome in outcomes {
        match outcome? {
            Stored::Applied => summary.applied += 1,
            Stored::Duplicate => summary.duplicate += 1,
            Stored::Quarantined => summary.quarantined += 1,
        }
    }
    Ok(summary)
}

/// How one event of an envelope was stored.
enum Stored {
    Applied,
    Duplicate,
    Quarantined,
}

/// Events of one envelope applied at once.
const ENVELOPE_CONCURRENCY: usize = 16;

async fn store_event(
    app: &AppState,
    policy: &Policy,
    event: Event,
    received_at: Timestamp,
) -> Result<Stored, ApiError> {
    let shared = app.shared();
    let label = action_label(Some(&event.action));
    let lag_micros = received_at.unix_micros().saturating_sub(event.timestamp.unix_micros());
    shared.metrics.ingest_lag(lag_micros as f64 / 1e6);

    if let Some(retention) = shared.retention
        && event.timestamp < retention.oldest_accepted(received_at)
    {
        let record = QuarantineRecord::new(
            Some(&event.id),
            event.raw.clone(),
            retention.reason(&event.id, event.timestamp),
            Some(policy.registry_name(&event)),
            received_at,
        );
        quarantine(app, label, record).await?;
        return Ok(Stored::Quarantined);
    }
    let plan = match translate(&event, policy) {
        Ok(plan) => plan,
        Err(e) => {
            let record = QuarantineRecord::new(
                Some(&event.id),
                event.raw.clone(),
                format!("event {}: {e}", event.id),
                Some(policy.registry_name(&event)),
                received_at,
            );
            quarantine(app, label, record).await?;
            return Ok(Stored::Quarantined);
        }
    };
    match shared.store.apply(&plan).await {
        Ok(outcome) => {
            let (outcome, stored) = match outcome {
                ApplyOutcome::Applied => (EventOutcome::Applied, Stored::Applied),
                ApplyOutcome::Duplicate => (EventOutcome::Duplicate, Stored::Duplicate),
            };
            shared.metrics.event(label, outcome);
            tracing::debug!(
                event_id = %event.id,
                action = %event.action,
                registry = %plan.entry.registry,
                repository = %plan.entry.repository,
                outcome = ?outcome,
                "event stored"
            );
            Ok(stored)
        }
        Err(e) if e.is_transient() => {
            shared.metrics.store_error("apply", &e);
            shared.metrics.event(label, EventOutcome::Failed);
            tracing::warn!(event_id = %event.id, error = %e.chain(), "store unavailable; asking the registry to retry");
            Err(ApiError::unavailable(
                "store_unavailable",
                format!("the store is unavailable ({e}); retry later"),
                shared.retry_after,
            ))
        }
        Err(e) => {
            shared.metrics.store_error("apply", &e);
            let record = QuarantineRecord::new(
                Some(&event.id),
                event.raw.clone(),
                format!("event {}: the store refused it: {}", event.id, e.chain()),
                Some(policy.registry_name(&event)),
                received_at,
            );
            quarantine(app, label, record).await?;
            Ok(Stored::Quarantined)
        }
    }
}

fn unparsed_record(error: &EventError, policy: &Policy, received_at: Timestamp) -> QuarantineRecord {
    QuarantineRecord::new(
        error.id.as_deref(),
        error.raw.clone(),
        error.to_string(),
        policy.registry.as_deref().map(|r| canonical_registry(policy, r)),
        received_at,
    )
}

async fn quarantine(app: &AppState, label: &'static str, record: QuarantineRecord) -> Result<(), ApiError> {
    let shared = app.shared();
    match shared.store.quarantine(&record).await {
        Ok(_) => {
            shared.metrics.event(label, EventOutcome::Quarantined);
            tracing::warn!(key = %record.key, reason = %record.reason, "event quarantined");
            Ok(())
        }
        Err(e) => {
            shared.metrics.store_error("quarantine", &e);
            shared.metrics.event(label, EventOutcome::Failed);
            if e.is_transient() {
                tracing::warn!(key = %record.key, error = %e.chain(), "store unavailable; asking the registry to retry");
                Err(ApiError::unavailable(
                    "store_unavailable",
                    format!("the store is unavailable ({e}); retry later"),
                    shared.retry_after,
                ))
            } else {
                // Answering 2xx would lose the event and 4xx would block the registry for
                // good; a 500 keeps it queued at the registry until an operator fixes the
                // store, and the log says why.
                tracing::error!(key = %record.key, reason = %record.reason, error = %e.chain(),
                    "cannot quarantine an event: the store refuses it");
                let mut err = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the store refuses to keep this event even in quarantine; see the server log",
                );
                err.retry_after = Some(shared.retry_after);
                Err(err)
            }
        }
    }
}

/// Why a body was not read whole.
enum BodyRead {
    /// It passed the limit; what is left of it is returned, to be drained.
    TooLarge(Body),
    /// The connection failed while reading it.
    Failed(axum::Error),
}

/// Reads a whole body of at most `limit` bytes (`declared` of them, says the client).
async fn read_limited(mut body: Body, declared: Option<u64>, limit: usize) -> Result<Vec<u8>, BodyRead> {
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyRead::Failed)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(BodyRead::TooLarge(body));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// At most this much of a refused body is read and dropped, within [`drain_time`].
const DRAIN_BYTES: u64 = 64 << 20;

/// How long a refused body may be read: 5 s, and never more than half the request timeout,
/// so that a slow sender gets its 413 and not the timeout's 503.
pub(crate) fn drain_time(request_timeout: Duration) -> Duration {
    (request_timeout / 2).min(Duration::from_secs(5))
}

/// Reads and drops what is left of a refused body, within bounds, before the refusal is sent.
///
/// A server that answers and closes while the client is still writing makes the client's
/// next write fail, and unread data makes the kernel reset the connection: the client (a
/// registry logging why its delivery failed) sees "broken pipe" or "connection reset" instead
/// of the 413 that says what to change. Reading the rest first, as nginx's lingering close
/// does, lets the answer arrive. A body declared larger than the bounds is not read at all:
/// it would be reset anyway.
async fn drain(body: Body, declared: Option<u64>, time: Duration) {
    if declared.is_some_and(|n| n > DRAIN_BYTES) {
        return;
    }
    let read = async {
        let mut body = body;
        let mut left = DRAIN_BYTES;
        while let Some(Ok(frame)) = body.frame().await {
            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
            match left.checked_sub(n) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(time, read).await;
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// The `action` of an event that did not parse, when it has a string one.
fn action_of_raw(raw: &str) -> Option<Action> {
    #[derive(Deserialize)]
    struct ActionOnly {
        action: Option<String>,
    }
    let action = serde_json::from_str::<ActionOnly>(raw).ok()?.action?;
    Some(Action::from(action.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_body_is_read_for_at_most_half_the_request_timeout_and_5_s() {
        assert_eq!(drain_time(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(drain_time(Duration::from_secs(60)), Duration::from_secs(5));
        assert_eq!(drain_time(Duration::from_secs(2)), Duration::from_secs(1));
    }
}
