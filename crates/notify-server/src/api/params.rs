//! Query parameters of the API and their validation.
//!
//! Unknown parameters are refused: a misspelt filter (`repo=` for `repository=`) would
//! otherwise silently widen an answer. Every refusal is a 400 naming the parameter.

use std::fmt::Display;
use std::str::FromStr;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use notify_core::query::{LiveTagFilter, MAX_PAGE_SIZE, NameMatch};
use notify_core::{Cursor, PageRequest, Policy, Timestamp};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;

use crate::error::ApiError;

/// `Query` with the API's error body on rejection.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::invalid_parameter(refusal(&e.body_text())))
    }
}

/// A query string the parameters' types refuse, said as `parameter: what is wrong`, like every
/// other refusal of the API (the extractor's text starts with its own name for the failure and
/// names no parameter when one is missing or repeated).
fn refusal(text: &str) -> String {
    let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(text);
    let field = |rest: &str| rest.strip_prefix('`').and_then(|r| r.strip_suffix('`')).map(str::to_owned);
    if let Some(name) = text.strip_prefix("missing field ").and_then(field) {
        return format!("{name}: required");
    }
    if let Some(name) = text.strip_prefix("duplicate field ").and_then(field) {
        return format!("{name}: given more than once");
    }
    if let Some(detail) = text.strip_prefix("limit: ") {
        if !detail.starts_with("unknown field") {
            return format!("limit: not a whole number from 1 to {MAX_PAGE_SIZE}");
        }
    }
    text.to_owned()
}

/// Listing repositories.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RepositoriesParams {
    /// Only repositories of this registry.
    pub(crate) registry: Option<String>,
    /// Only names starting with this text.
    pub(crate) prefix: Option<String>,
    /// Only names containing this text.
    pub(crate) q: Option<String>,
    /// Items per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// The `next` value of the previous page.
    pub(crate) cursor: Option<String>,
}

/// One repository.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RepositoryParams {
    /// The registry; may be left out when exactly one registry has a repository of this name.
    pub(crate) registry: Option<String>,
    /// The repository, e.g. `library/alpine`.
    pub(crate) repository: String,
}

/// The tags of one repository.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TagsParams {
    /// The registry; may be left out when exactly one registry has a repository of this name.
    pub(crate) registry: Option<String>,
    /// The repository, e.g. `library/alpine`.
    pub(crate) repository: String,
    /// Items per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// The `next` value of the previous page.
    pub(crate) cursor: Option<String>,
}

/// The tags of one repository at an instant.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TagsAtParams {
    /// The registry; may be left out when exactly one registry has a repository of this name.
    pub(crate) registry: Option<String>,
    /// The repository, e.g. `library/alpine`.
    pub(crate) repository: String,
    /// The instant (RFC 3339; write `+` in an offset as `%2B`, or use `Z`): every tag that
    /// pointed at something then, with the change of its history in force.
    #[param(format = DateTime)]
    pub(crate) at: String,
    /// Items per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// The `next` value of the previous page.
    pub(crate) cursor: Option<String>,
}

/// The history of one tag.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TagHistoryParams {
    /// The registry; may be left out when exactly one registry has a repository of this name.
    pub(crate) registry: Option<String>,
    /// The repository, e.g. `library/alpine`.
    pub(crate) repository: String,
    /// The tag, e.g. `latest`.
    pub(crate) tag: String,
    /// The history as it stood at this instant (RFC 3339; write `+` in an offset as `%2B`, or
    /// use `Z`): it starts with the change in force then, the newest at or before it, so the
    /// first item tells where the tag pointed (`digest` null: deleted then; no item: it did not
    /// exist yet). Keep it on the following pages, with their `cursor`.
    #[param(format = DateTime)]
    pub(crate) at: Option<String>,
    /// Items per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// The `next` value of the previous page.
    pub(crate) cursor: Option<String>,
}

/// Filters of the event log; all given ones must match.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsParams {
    /// Registry.
    pub(crate) registry: Option<String>,
    /// Repository.
    pub(crate) repository: Option<String>,
    /// Tag.
    pub(crate) tag: Option<String>,
    /// Digest.
    pub(crate) digest: Option<String>,
    /// Action: push, pull, mount, delete, or any other the registry sent.
    pub(crate) action: Option<String>,
    /// Actor (authenticated user name).
    pub(crate) actor: Option<String>,
    /// Client IP address.
    pub(crate) client_ip: Option<String>,
    /// Events at or after this time (RFC 3339; write `+` in an offset as `%2B`, or use `Z`).
    #[param(format = DateTime)]
    pub(crate) since: Option<String>,
    /// Events before this time (RFC 3339).
    #[param(format = DateTime)]
    pub(crate) until: Option<String>,
    /// Items per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// The `next` value of the previous page.
    pub(crate) cursor: Option<String>,
}

/// The migration inventory.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct InventoryParams {
    /// Only this registry.
    pub(crate) registry: Option<String>,
    /// Only repositories whose names start with this text.
    pub(crate) prefix: Option<String>,
    /// Only repositories whose names contain this text.
    pub(crate) q: Option<String>,
    /// Only this tag, e.g. `latest` (case-sensitive).
    pub(crate) tag: Option<String>,
    /// Items per page (1 to 1000; default 100 for JSON, 1000 per fetch for NDJSON).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// Start after this position (the `next` value of a JSON page).
    pub(crate) cursor: Option<String>,
}

/// The clean-up question.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct UnusedParams {
    /// Only this registry.
    pub(crate) registry: Option<String>,
    /// Only repositories whose names start with this text.
    pub(crate) prefix: Option<String>,
    /// Only repositories whose names contain this text.
    pub(crate) q: Option<String>,
    /// Only this tag, e.g. `latest` (case-sensitive).
    pub(crate) tag: Option<String>,
    /// The instant (RFC 3339; write `+` in an offset as `%2B`, or use `Z`): tags set before it
    /// and pulled neither by name nor by digest in their repository at or after it. Pulls are
    /// those the server counts (by default manifest `GET`s, not `HEAD`s).
    #[param(format = DateTime)]
    pub(crate) since: String,
    /// Items per page (1 to 1000; default 100 for JSON, 1000 per fetch for NDJSON).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// Start after this position (the `next` value of a JSON page).
    pub(crate) cursor: Option<String>,
}

/// Paging only.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// Items per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<u32>,
    /// The `next` value of the previous page.
    pub(crate) cursor: Option<String>,
}

/// The repository names a `prefix` or a `q` (substring) ask for; not both.
pub(crate) fn name_match(prefix: Option<String>, q: Option<String>) -> Result<Option<NameMatch>, ApiError> {
    Ok(match (prefix, q) {
        (Some(_), Some(_)) => return Err(ApiError::invalid_parameter("give either prefix or q, not both")),
        (Some(prefix), None) => Some(NameMatch::Prefix(text("prefix", &prefix)?)),
        (None, Some(q)) => Some(NameMatch::Substring(text("q", &q)?)),
        (None, None) => None,
    })
}

/// The live tags the inventory and the unused list are asked for.
pub(crate) fn live_tag_filter(
    policy: &Policy,
    registry: Option<String>,
    prefix: Option<String>,
    q: Option<String>,
    tag: Option<String>,
) -> Result<LiveTagFilter, ApiError> {
    Ok(LiveTagFilter {
        registry: registry.as_deref().map(|r| self::registry(policy, r)).transpose()?,
        repository: name_match(prefix, q)?,
        tag: tag.as_deref().map(|t| parse("tag", t)).transpose()?,
    })
}

/// The page a `limit` and `cursor` ask for; `default_limit` when no limit is given.
pub(crate) fn page(
    limit: Option<u32>,
    cursor: Option<String>,
    default_limit: u32,
) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(default_limit);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(ApiError::invalid_parameter(format!("limit: {limit} is outside 1..={MAX_PAGE_SIZE}")));
    }
    let after = match cursor {
        Some(c) if c.is_empty() => return Err(ApiError::invalid_parameter("cursor: empty")),
        Some(c) => Some(Cursor::new(c)),
        None => None,
    };
    Ok(PageRequest { after, limit })
}

/// A parameter in its domain grammar (repository name, tag, digest).
pub(crate) fn parse<T>(param: &str, value: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|e| ApiError::invalid_parameter(format!("{param}: {e}")))
}

/// An RFC 3339 time. A `+` of an offset that was not percent-encoded arrives as a space; it is
/// put back rather than refusing a time the user wrote correctly.
pub(crate) fn timestamp(param: &str, value: &str) -> Result<Timestamp, ApiError> {
    if let Ok(t) = value.parse() {
        return Ok(t);
    }
    if let Some(i) = value.rfind(' ') {
        let mut fixed = value.to_owned();
        fixed.replace_range(i..=i, "+");
        if let Ok(t) = fixed.parse() {
            return Ok(t);
        }
    }
    Err(ApiError::invalid_parameter(format!(
        "{param}: {value:?} is not an RFC 3339 time with offset, e.g. 2026-01-31T12:00:00Z"
    )))
}

/// A registry name as the store keys it: lowercase, mapped through the configured aliases,
/// exactly as events are named when they arrive.
pub(crate) fn registry(policy: &Policy, value: &str) -> Result<String, ApiError> {
    crate::config::check_registry_name(value)
        .map_err(|m| ApiError::invalid_parameter(format!("registry: {m}")))?;
    Ok(crate::config::canonical_registry(policy, value))
}

/// A free-text filter: non-empty and of a sane length.
pub(crate) fn text(param: &str, value: &str) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > 256 {
        return Err(ApiError::invalid_parameter(format!("{param}: must be 1 to 256 bytes")));
    }
    Ok(value.to_owned())
}
