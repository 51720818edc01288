//! What every handler shares: the store, the translation policy, the credential checkers and
//! the metrics, all fixed at start.
//!
//! Nothing here changes between requests except the metrics counters, so replicas behind a
//! load balancer need no coordination: all state that matters lives in the store.

use std::sync::Arc;
use std::time::Duration;

use notify_core::{Policy, Storage, StorageError};

use crate::auth::{ApiAuthenticator, WebhookAuthenticator};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::retention::Retention;

/// The handlers' shared, read-only context.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) policy: Policy,
    pub(crate) webhook_auth: WebhookAuthenticator,
    pub(crate) api_auth: ApiAuthenticator,
    pub(crate) metrics: Metrics,
    pub(crate) max_body: usize,
    pub(crate) retry_after: Duration,
    /// How long the rest of a too-large body is read before the 413 (see `webhook::drain`).
    pub(crate) drain_time: Duration,
    /// The event log's retention, when it has one.
    pub(crate) retention: Option<Retention>,
}

impl AppState {
    /// Builds the context from the configuration and an opened store.
    pub fn new(config: &Config, store: Arc<dyn Storage>) -> Self {
        AppState {
            inner: Arc::new(Shared {
                store,
                policy: config.policy.clone(),
                webhook_auth: WebhookAuthenticator::new(&config.webhook.auth),
                api_auth: ApiAuthenticator::new(&config.api_auth),
                metrics: Metrics::new(),
                max_body: config.webhook.max_body,
                retry_after: config.webhook.retry_after,
                drain_time: crate::webhook::drain_time(config.request_timeout),
                retention: config.log_retention.map(Retention::new),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner
    }

    /// The store every handler uses.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.inner.store
    }

    /// The event log's retention, when it has one.
    pub fn retention(&self) -> Option<Retention> {
        self.inner.retention
    }

    /// The metrics this server records.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Awaits a store read, counting failures and mapping them to API errors.
    pub(crate) async fn read<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, ApiError> {
        call.await.map_err(|e| {
            self.inner.metrics.store_error(operation, &e);
            ApiError::from_storage(&e, self.inner.retry_after)
        })
    }
}
