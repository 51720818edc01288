//! The query API under `/api/v1/`: one read endpoint per read query of `notify_core::Storage`.
//!
//! Repository names contain slashes, so a repository is always named by query parameters
//! (`?registry=…&repository=library/alpine`), never by a path segment: every URL is
//! unambiguous, curl-friendly, and exactly describable in OpenAPI. `registry` may be left out
//! when exactly one registry has a repository of that name.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/repositories` | repositories, searchable (`prefix` or `q`), paged |
//! | `GET /api/v1/repositories/stats` | statistics of one repository |
//! | `GET /api/v1/tags` | live tags of one repository, paged |
//! | `GET /api/v1/tags/at` | the tags of one repository as they stood at an instant (`at`), paged |
//! | `GET /api/v1/tags/history` | every change of one tag, newest first, paged; with `at`, as it stood at an instant |
//! | `GET /api/v1/digests/{digest}` | everything known about a digest, with the first page of its repositories and referrers |
//! | `GET /api/v1/digests/{digest}/repositories` | the repositories that hold or held a digest, paged |
//! | `GET /api/v1/digests/{digest}/referrers` | the manifests that reference a digest, paged |
//! | `GET /api/v1/events` | the event log, filtered, newest first, paged |
//! | `GET /api/v1/inventory` | every live tag, for migration: a JSON page, or all pages as NDJSON with `Accept: application/x-ndjson` |
//! | `GET /api/v1/inventory.ndjson` | the same, always NDJSON, streamed through all pages |
//! | `GET /api/v1/unused` | the live tags unused since `since`, with when each was pushed and last pulled; JSON or NDJSON like the inventory |
//! | `GET /api/v1/unused.ndjson` | the same, always NDJSON |
//! | `GET /api/v1/quarantine` | events that could not be modelled, newest first, paged |
//!
//! Lists answer `{"items": [...], "next": "<cursor>" | null}`; pass `next` back as `cursor`.
//! Errors are `{"error": {"code", "message"}}`: 400 for invalid parameters or cursors, 401
//! without the read token, 404 for unknown digests and repositories, 503 with `Retry-After`
//! when the store is unavailable.

pub mod model;
mod params;
mod stream;

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use notify_core::query::{
    DEFAULT_PAGE_SIZE, EventQuery, InventoryQuery, MAX_PAGE_SIZE, NameMatch, RepositoryQuery,
    TagHistoryEntry, UnusedQuery,
};
use notify_core::{Action, Digest, PageRequest, RepoRef, RepositoryName, Tag};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use model::{
    DigestInfo, DigestLocationPage, EventPage, InventoryItem, InventoryPage, PastTagPage, QuarantinePage,
    ReferrerPage, RepositoryPage, RepositoryStats, TagHistoryPage, TagPage, UnusedItem, UnusedPage,
};
use params::{
    ApiQuery, EventsParams, InventoryParams, PageParams, RepositoriesParams, RepositoryParams,
    TagHistoryParams, TagsAtParams, TagsParams, UnusedParams,
};

/// The media type of the streamed lists (the inventory, the unused tags).
pub const NDJSON: &str = "application/x-ndjson";

/// Refuses reads without the configured read token.
/// Times a query for `notify_api_request_duration_seconds`, refusals of its token included.
pub(crate) async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    // Only matched routes reach this layer, so the template is always there.
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    if let Some(route) = route {
        app.metrics().api_request(&route, response.status().as_u16(), started.elapsed().as_secs_f64());
    }
    response
}

pub(crate) async fn require_read_token(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let auth = &app.shared().api_auth;
    match auth.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(failure) => {
            let mut e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", failure.message());
            e.challenges = vec![auth.challenge()];
            e.into_response()
        }
    }
}

/// Lists repositories, by registry then name.
#[utoipa::path(
    get,
    path = "/api/v1/repositories",
    tag = "query",
    params(RepositoriesParams),
    responses(
        (status = 200, description = "One page of repositories", body = RepositoryPage),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn list_repositories(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<RepositoriesParams>,
) -> Result<Json<RepositoryPage>, ApiError> {
    let policy = &app.shared().policy;
    let name = params::name_match(p.prefix, p.q)?;
    let query = RepositoryQuery {
        registry: p.registry.as_deref().map(|r| params::registry(policy, r)).transpose()?,
        name,
        page: params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?,
    };
    let page = app.read("repositories", app.shared().store.repositories(&query)).await?;
    Ok(Json(page.into()))
}

/// Statistics of one repository.
#[utoipa::path(
    get,
    path = "/api/v1/repositories/stats",
    tag = "query",
    params(RepositoryParams),
    responses(
        (status = 200, description = "The repository's statistics", body = RepositoryStats),
        (status = 400, description = "Invalid parameter, or the registry must be named", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 404, description = "No event ever named this repository", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn repository_stats(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<RepositoryParams>,
) -> Result<Json<RepositoryStats>, ApiError> {
    let repo = resolve_repository(&app, p.registry.as_deref(), &p.repository).await?;
    match app.read("repository_stats", app.shared().store.repository_stats(&repo)).await? {
        Some(stats) => Ok(Json(stats.into())),
        None => Err(ApiError::not_found(format!(
            "no event names repository {} in registry {}",
            repo.repository, repo.registry
        ))),
    }
}

/// The live tags of one repository, by name.
#[utoipa::path(
    get,
    path = "/api/v1/tags",
    tag = "query",
    params(TagsParams),
    responses(
        (status = 200, description = "One page of live tags (empty for a repository without any)", body = TagPage),
        (status = 400, description = "Invalid parameter or cursor, or the registry must be named", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 404, description = "The registry was left out and no registry has this repository", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn list_tags(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<TagsParams>,
) -> Result<Json<TagPage>, ApiError> {
    let page = params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?;
    let repo = resolve_repository(&app, p.registry.as_deref(), &p.repository).await?;
    let tags = app.read("tags", app.shared().store.tags(&repo, &page)).await?;
    Ok(Json(tags.into()))
}

/// The tags of a repository as they stood at an instant, by name.
#[utoipa::path(
    get,
    path = "/api/v1/tags/at",
    tag = "query",
    params(TagsAtParams),
    responses(
        (status = 200, description = "One page of the tags that pointed at something then", body = PastTagPage),
        (status = 400, description = "Invalid parameter or cursor, or the registry must be named", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 404, description = "The registry was left out and no registry has this repository", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn tags_at(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<TagsAtParams>,
) -> Result<Json<PastTagPage>, ApiError> {
    let instant = params::timestamp("at", &p.at)?;
    let page = params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?;
    let repo = resolve_repository(&app, p.registry.as_deref(), &p.repository).await?;
    let tags = app.read("tags_at", app.shared().store.tags_at(&repo, instant, &page)).await?;
    Ok(Json(tags.into()))
}

/// Every change of one tag, newest first; with `at`, from the change in force at that instant.
#[utoipa::path(
    get,
    path = "/api/v1/tags/history",
    tag = "query",
    params(TagHistoryParams),
    responses(
        (status = 200, description = "One page of the tag's changes", body = TagHistoryPage),
        (status = 400, description = "Invalid parameter or cursor, or the registry must be named", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 404, description = "The registry was left out and no registry has this repository", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn tag_history(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<TagHistoryParams>,
) -> Result<Json<TagHistoryPage>, ApiError> {
    let tag: Tag = params::parse("tag", &p.tag)?;
    let mut page = params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?;
    if let Some(at) = &p.at {
        page = TagHistoryEntry::page_at(params::timestamp("at", at)?, page);
    }
    let repo = resolve_repository(&app, p.registry.as_deref(), &p.repository).await?;
    let history = app.read("tag_history", app.shared().store.tag_history(&repo, &tag, &page)).await?;
    Ok(Json(history.into()))
}

/// Everything known about one digest.
#[utoipa::path(
    get,
    path = "/api/v1/digests/{digest}",
    tag = "query",
    params(("digest" = String, Path, description = "A digest, e.g. sha256:9658c7…")),
    responses(
        (status = 200, description = "What is known about the digest", body = DigestInfo),
        (status = 400, description = "Not a digest", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 404, description = "No event ever named this digest", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn get_digest(
    State(app): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Json<DigestInfo>, ApiError> {
    let digest: Digest = params::parse("digest", &digest)?;
    match app.read("digest", app.shared().store.digest(&digest)).await? {
        Some(info) => Ok(Json(info.into())),
        None => Err(ApiError::not_found(format!("no event names digest {digest}"))),
    }
}

/// The repositories that hold or held a digest, by registry then name.
#[utoipa::path(
    get,
    path = "/api/v1/digests/{digest}/repositories",
    tag = "query",
    params(("digest" = String, Path, description = "A digest, e.g. sha256:9658c7…"), PageParams),
    responses(
        (status = 200, description = "One page of repositories; empty for a digest no event named", body = DigestLocationPage),
        (status = 400, description = "Not a digest, or an invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn list_digest_repositories(
    State(app): State<AppState>,
    Path(digest): Path<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<DigestLocationPage>, ApiError> {
    let digest: Digest = params::parse("digest", &digest)?;
    let page = params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?;
    let locations =
        app.read("digest_repositories", app.shared().store.digest_repositories(&digest, &page)).await?;
    Ok(Json(locations.into()))
}

/// The manifests that reference a digest, by digest then kind.
#[utoipa::path(
    get,
    path = "/api/v1/digests/{digest}/referrers",
    tag = "query",
    params(("digest" = String, Path, description = "A digest, e.g. sha256:9658c7…"), PageParams),
    responses(
        (status = 200, description = "One page of referrers; empty when nothing references the digest", body = ReferrerPage),
        (status = 400, description = "Not a digest, or an invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn list_digest_referrers(
    State(app): State<AppState>,
    Path(digest): Path<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<ReferrerPage>, ApiError> {
    let digest: Digest = params::parse("digest", &digest)?;
    let page = params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?;
    let referrers = app.read("digest_referrers", app.shared().store.digest_referrers(&digest, &page)).await?;
    Ok(Json(referrers.into()))
}

/// The event log, filtered, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "query",
    params(EventsParams),
    responses(
        (status = 200, description = "One page of log entries", body = EventPage),
        (status = 400, description = "Invalid filter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn list_events(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<EventsParams>,
) -> Result<Json<EventPage>, ApiError> {
    let policy = &app.shared().policy;
    let query = EventQuery {
        registry: p.registry.as_deref().map(|r| params::registry(policy, r)).transpose()?,
        repository: p
            .repository
            .as_deref()
            .map(|r| params::parse::<RepositoryName>("repository", r))
            .transpose()?,
        tag: p.tag.as_deref().map(|t| params::parse::<Tag>("tag", t)).transpose()?,
        digest: p.digest.as_deref().map(|d| params::parse::<Digest>("digest", d)).transpose()?,
        action: p
            .action
            .as_deref()
            .map(|a| params::text("action", a).map(|a| Action::from(a.as_str())))
            .transpose()?,
        actor: p.actor.as_deref().map(|a| params::text("actor", a)).transpose()?,
        client_ip: p.client_ip.as_deref().map(|c| params::text("client_ip", c)).transpose()?,
        since: p.since.as_deref().map(|s| params::timestamp("since", s)).transpose()?,
        until: p.until.as_deref().map(|u| params::timestamp("until", u)).transpose()?,
        page: params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?,
    };
    if let (Some(since), Some(until)) = (query.since, query.until) {
        if since >= until {
            return Err(ApiError::invalid_parameter("since must be before until"));
        }
    }
    let page = app.read("events", app.shared().store.events(&query)).await?;
    Ok(Json(page.into()))
}

/// Every live tag, for migration: one JSON page, or every page as NDJSON when the client
/// accepts `application/x-ndjson`.
#[utoipa::path(
    get,
    path = "/api/v1/inventory",
    tag = "query",
    params(
        InventoryParams,
        ("Accept" = Option<String>, Header, description = "application/x-ndjson streams every page as NDJSON"),
    ),
    responses(
        (status = 200, description = "A page of the inventory (JSON), or all of it (NDJSON, one item per line)",
            content(
                (InventoryPage = "application/json"),
                (InventoryItem = "application/x-ndjson"),
            )),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn inventory(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<InventoryParams>,
) -> Result<Response, ApiError> {
    stream::page_or_stream(&app, &headers, |limit| inventory_query(&app, p, limit)).await
}

/// Every live tag as NDJSON, one item per line, streamed through all pages.
#[utoipa::path(
    get,
    path = "/api/v1/inventory.ndjson",
    tag = "query",
    params(InventoryParams),
    responses(
        (status = 200, description = "All of the inventory, one item per line", content((InventoryItem = "application/x-ndjson"))),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn inventory_ndjson(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<InventoryParams>,
) -> Result<Response, ApiError> {
    stream::ndjson(&app, inventory_query(&app, p, MAX_PAGE_SIZE)?).await
}

/// The live tags nobody has used since an instant, with when each was pushed and last pulled:
/// one JSON page, or every page as NDJSON when the client accepts `application/x-ndjson`.
///
/// A JSON page examines a bounded number of live tags, so it may hold fewer items than its
/// limit, or none, and still carry a `next` cursor: only a missing `next` ends the list.
#[utoipa::path(
    get,
    path = "/api/v1/unused",
    tag = "query",
    params(
        UnusedParams,
        ("Accept" = Option<String>, Header, description = "application/x-ndjson streams every page as NDJSON"),
    ),
    responses(
        (status = 200, description = "A page of the unused tags (JSON; it may be short, or empty, and still have a `next`: only a missing `next` ends the list), or all of them (NDJSON, one item per line)",
            content(
                (UnusedPage = "application/json"),
                (UnusedItem = "application/x-ndjson"),
            )),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn unused(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<UnusedParams>,
) -> Result<Response, ApiError> {
    stream::page_or_stream(&app, &headers, |limit| unused_query(&app, p, limit)).await
}

/// The unused tags as NDJSON, one item per line, streamed through all pages.
#[utoipa::path(
    get,
    path = "/api/v1/unused.ndjson",
    tag = "query",
    params(UnusedParams),
    responses(
        (status = 200, description = "All of the unused tags, one item per line", content((UnusedItem = "application/x-ndjson"))),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn unused_ndjson(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<UnusedParams>,
) -> Result<Response, ApiError> {
    stream::ndjson(&app, unused_query(&app, p, MAX_PAGE_SIZE)?).await
}

/// Events that could not be modelled, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/quarantine",
    tag = "query",
    params(PageParams),
    responses(
        (status = 200, description = "One page of quarantined events", body = QuarantinePage),
        (status = 400, description = "Invalid parameter or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong read token", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("api_bearer" = []))
)]
pub(crate) async fn list_quarantine(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<QuarantinePage>, ApiError> {
    let page = params::page(p.limit, p.cursor, DEFAULT_PAGE_SIZE)?;
    let records = app.read("quarantined", app.shared().store.quarantined(&page)).await?;
    Ok(Json(records.into()))
}

fn inventory_query(
    app: &AppState,
    p: InventoryParams,
    default_limit: u32,
) -> Result<InventoryQuery, ApiError> {
    Ok(InventoryQuery {
        filter: params::live_tag_filter(&app.shared().policy, p.registry, p.prefix, p.q, p.tag)?,
        page: params::page(p.limit, p.cursor, default_limit)?,
    })
}

fn unused_query(app: &AppState, p: UnusedParams, default_limit: u32) -> Result<UnusedQuery, ApiError> {
    Ok(UnusedQuery {
        filter: params::live_tag_filter(&app.shared().policy, p.registry, p.prefix, p.q, p.tag)?,
        since: params::timestamp("since", &p.since)?,
        page: params::page(p.limit, p.cursor, default_limit)?,
        walk: UnusedQuery::DEFAULT_WALK,
    })
}

/// How many pages of repository names are scanned to find which registry has a repository
/// when the request does not say.
const MAX_REGISTRY_LOOKUP_PAGES: usize = 20;

/// The repository a request names. Without a registry, the one registry that has a repository
/// of that name is used; none is a 404 and several are a 400 that lists them.
async fn resolve_repository(
    app: &AppState,
    registry: Option<&str>,
    repository: &str,
) -> Result<RepoRef, ApiError> {
    let repository: RepositoryName = params::parse("repository", repository)?;
    if let Some(registry) = registry {
        return Ok(RepoRef { registry: params::registry(&app.shared().policy, registry)?, repository });
    }
    let mut registries = BTreeSet::new();
    let mut query = RepositoryQuery {
        registry: None,
        name: Some(NameMatch::Prefix(repository.to_string())),
        page: PageRequest::first(MAX_PAGE_SIZE),
    };
    let mut complete = false;
    for _ in 0..MAX_REGISTRY_LOOKUP_PAGES {
        let page = app.read("repositories", app.shared().store.repositories(&query)).await?;
        registries.extend(page.items.into_iter().filter(|s| s.repository == repository).map(|s| s.registry));
        match page.next {
            Some(cursor) => query.page.after = Some(cursor),
            None => {
                complete = true;
                break;
            }
        }
    }
    if !complete || registries.len() > 1 {
        let names: Vec<_> = registries.into_iter().collect();
        return Err(ApiError::invalid_parameter(format!(
            "registry: several registries may have a repository {repository} ({}): name one with registry=",
            names.join(", ")
        )));
    }
    match registries.pop_first() {
        Some(registry) => Ok(RepoRef { registry, repository }),
        None => Err(ApiError::not_found(format!("no registry has a repository {repository}"))),
    }
}
