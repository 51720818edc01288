//! Lists answered as one JSON page or, when the client accepts NDJSON, as every page
//! streamed: the inventory and the unused tags.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use notify_core::query::{DEFAULT_PAGE_SIZE, InventoryQuery, MAX_PAGE_SIZE, UnusedQuery};
use notify_core::{Page, PageRequest, Storage, StorageError};
use serde::Serialize;

use super::NDJSON;
use super::model;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

type Fetch<'a, T> = Pin<Box<dyn Future<Output = Result<Page<T>, StorageError>> + Send + 'a>>;

/// A paged query whose every page can be streamed.
pub(crate) trait Streamed: Clone + Send + Sync + 'static {
    /// An item as the store answers it.
    type Item: Send + 'static;
    /// An item as one line of the answer.
    type Line: Serialize + From<Self::Item>;
    /// A page as one JSON answer.
    type Json: Serialize + From<Page<Self::Item>>;
    /// The store operation, for metrics and logs.
    const OPERATION: &'static str;
    /// The page this query asks for.
    fn page_mut(&mut self) -> &mut PageRequest;
    /// One page from the store.
    fn fetch<'a>(&'a self, store: &'a dyn Storage) -> Fetch<'a, Self::Item>;
}

impl Streamed for InventoryQuery {
    type Item = notify_core::query::InventoryItem;
    type Line = model::InventoryItem;
    type Json = model::InventoryPage;
    const OPERATION: &'static str = "inventory";
    fn page_mut(&mut self) -> &mut PageRequest {
        &mut self.page
    }
    fn fetch<'a>(&'a self, store: &'a dyn Storage) -> Fetch<'a, Self::Item> {
        store.inventory(self)
    }
}

impl Streamed for UnusedQuery {
    type Item = notify_core::query::UnusedItem;
    type Line = model::UnusedItem;
    type Json = model::UnusedPage;
    const OPERATION: &'static str = "unused";
    fn page_mut(&mut self) -> &mut PageRequest {
        &mut self.page
    }
    fn fetch<'a>(&'a self, store: &'a dyn Storage) -> Fetch<'a, Self::Item> {
        store.unused(self)
    }
}

/// One JSON page of the query `query_with` builds with a default limit of
/// [`DEFAULT_PAGE_SIZE`], or every page of it as NDJSON (fetched [`MAX_PAGE_SIZE`] at a time
/// unless the client says) when `headers` accept that.
pub(crate) async fn page_or_stream<Q: Streamed>(
    app: &AppState,
    headers: &HeaderMap,
    query_with: impl FnOnce(u32) -> Result<Q, ApiError>,
) -> Result<Response, ApiError> {
    if accepts_ndjson(headers) {
        return ndjson(app, query_with(MAX_PAGE_SIZE)?).await;
    }
    let query = query_with(DEFAULT_PAGE_SIZE)?;
    let page = app.read(Q::OPERATION, query.fetch(&*app.shared().store)).await?;
    Ok(Json(Q::Json::from(page)).into_response())
}

fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |range| {
            let essence = range.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case(NDJSON)
        },
    )
}

/// Streams every page of `query` as NDJSON. The first page is fetched before answering, so
/// that a bad cursor or an unavailable store still gets its proper status; a failure after
/// the answer has started aborts the body, which the client sees as a truncated transfer
/// rather than a silently short list.
pub(crate) async fn ndjson<Q: Streamed>(app: &AppState, query: Q) -> Result<Response, ApiError> {
    let store = Arc::clone(&app.shared().store);
    let first = app.read(Q::OPERATION, query.fetch(&*store)).await?;
    let metrics = app.metrics().clone();

    enum Step<Q: Streamed> {
        Emit(Page<Q::Item>, Q),
        Done,
    }
    let stream = futures_util::stream::unfold(
        (Step::Emit(first, query), store, metrics),
        |(step, store, metrics): (Step<Q>, Arc<dyn Storage>, Metrics)| async move {
            let Step::Emit(page, mut query) = step else { return None };
            let mut lines = Vec::with_capacity(page.items.len() * 200);
            for item in page.items {
                // Serialising a struct of strings into a Vec cannot fail.
                if serde_json::to_writer(&mut lines, &Q::Line::from(item)).is_ok() {
                    lines.push(b'\n');
                }
            }
            let next = match page.next {
                None => Step::Done,
                Some(cursor) => {
                    let limit = query.page_mut().limit;
                    *query.page_mut() = PageRequest { after: Some(cursor), limit };
                    match query.fetch(&*store).await {
                        Ok(next_page) => Step::Emit(next_page, query),
                        Err(e) => {
                            metrics.store_error(Q::OPERATION, &e);
                            tracing::warn!(error = %e, list = Q::OPERATION, "NDJSON stream aborted");
                            // The lines of this page are lost with the aborted transfer anyway.
                            return Some((
                                Err(std::io::Error::other(e.to_string())),
                                (Step::Done, store, metrics),
                            ));
                        }
                    }
                }
            };
            Some((Ok::<_, std::io::Error>(Bytes::from(lines)), (next, store, metrics)))
        },
    );
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(response)
}
