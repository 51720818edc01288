//! Prometheus metrics, served as text on `/metrics`.
//!
//! Each router owns its own registry rather than the process-global one, so that several
//! servers in one process (tests) count independently. Labels take only values from fixed
//! sets: an action the server does not know is `other`, so a client cannot grow the number of
//! series.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `notify_events_received_total` | `action`, `outcome` | events by outcome: `applied`, `duplicate`, `quarantined`, `failed` (not stored: the store was unavailable; the registry resends it) |
//! | `notify_ingest_duration_seconds` | | time from a webhook request's arrival to its answer |
//! | `notify_ingest_lag_seconds` | | receive time minus event timestamp, for events that parsed |
//! | `notify_store_errors_total` | `operation`, `kind` | store calls that failed: `kind` is `unavailable`, `rejected` or `internal` (a client's bad cursor is not a store error) |
//! | `notify_webhook_rejected_total` | `reason` | webhook requests refused before their events were read: `unauthorized`, `too_large`, `content_type`, `malformed` |
//! | `notify_store_backlog` | | events acknowledged and not yet projected (PostgreSQL with deferred projection; 0 otherwise), read from the store at each scrape |
//! | `notify_events_pruned_total` | | log entries removed by the pruner (`log_retention`) |
//! | `notify_api_request_duration_seconds` | `route`, `status` | time from a query's arrival to its response head, by route template (`/api/v1/tags`, `/api/v1/digests/{digest}`…) and status class (`2xx`, `4xx`, `5xx`); a streamed list's body (inventory, unused) continues after it |

use notify_core::{Action, StorageError};
use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    events: IntCounterVec,
    ingest_duration: Histogram,
    ingest_lag: Histogram,
    store_errors: IntCounterVec,
    webhook_rejected: IntCounterVec,
    backlog: IntGauge,
    api_duration: HistogramVec,
    pruned: IntCounter,
}

/// What happened to one event of a webhook post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Stored.
    Applied,
    /// Already stored.
    Duplicate,
    /// Kept in quarantine.
    Quarantined,
    /// Not stored: the store was unavailable.
    Failed,
}

impl EventOutcome {
    fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Applied => "applied",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Quarantined => "quarantined",
            EventOutcome::Failed => "failed",
        }
    }
}

/// The label of an action: the four the registry sends, else `other`; `unknown` when the
/// event did not parse far enough to tell.
pub fn action_label(action: Option<&Action>) -> &'static str {
    match action {
        Some(Action::Push) => "push",
        Some(Action::Pull) => "pull",
        Some(Action::Mount) => "mount",
        Some(Action::Delete) => "delete",
        Some(Action::Other(_)) => "other",
        None => "unknown",
    }
}

fn storage_error_kind(e: &StorageError) -> &'static str {
    match e {
        StorageError::Unavailable { .. } => "unavailable",
        StorageError::Rejected { .. } => "rejected",
        StorageError::InvalidCursor(_) => "invalid_cursor",
        StorageError::InvalidQuery(_) => "invalid_query",
        StorageError::Internal { .. } => "internal",
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        // Registration fails only on duplicate or malformed names, which are fixed here; a
        // failure is a programming error caught by the first test run.
        Self::try_new().unwrap_or_else(|e| panic!("metric definitions are invalid: {e}"))
    }

    fn try_new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new("notify_events_received_total", "Events received, by action and outcome."),
            &["action", "outcome"],
        )?;
        let ingest_duration = Histogram::with_opts(
            HistogramOpts::new(
                "notify_ingest_duration_seconds",
                "Time from a webhook request's arrival to its answer.",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.5, 12)?),
        )?;
        let ingest_lag = Histogram::with_opts(
            HistogramOpts::new("notify_ingest_lag_seconds", "Receive time minus event timestamp.").buckets(
                vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0],
            ),
        )?;
        let store_errors = IntCounterVec::new(
            Opts::new("notify_store_errors_total", "Failed store calls, by operation and kind."),
            &["operation", "kind"],
        )?;
        let webhook_rejected = IntCounterVec::new(
            Opts::new(
                "notify_webhook_rejected_total",
                "Webhook requests refused before their events were read.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(ingest_duration.clone()))?;
        registry.register(Box::new(ingest_lag.clone()))?;
        registry.register(Box::new(store_errors.clone()))?;
        let backlog = IntGauge::new("notify_store_backlog", "Events acknowledged and not yet projected.")?;
        let api_duration = HistogramVec::new(
            HistogramOpts::new(
                "notify_api_request_duration_seconds",
                "Time from a query's arrival to its response head, by route and status class.",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.5, 12)?),
            &["route", "status"],
        )?;
        registry.register(Box::new(webhook_rejected.clone()))?;
        registry.register(Box::new(backlog.clone()))?;
        registry.register(Box::new(api_duration.clone()))?;
        let pruned = IntCounter::new("notify_events_pruned_total", "Log entries removed by the pruner.")?;
        registry.register(Box::new(pruned.clone()))?;
        // Outcomes of the four registry actions exist from the start, so that dashboards and
        // rate() see zeros instead of missing series.
        for action in ["push", "pull", "mount", "delete"] {
            for outcome in ["applied", "duplicate", "quarantined", "failed"] {
                events.with_label_values(&[action, outcome]);
            }
        }
        Ok(Metrics {
            registry,
            events,
            ingest_duration,
            ingest_lag,
            store_errors,
            webhook_rejected,
            backlog,
            api_duration,
            pruned,
        })
    }

    /// Counts log entries the pruner removed.
    pub fn pruned(&self, entries: u64) {
        self.pruned.inc_by(entries);
    }

    /// Counts one event.
    pub fn event(&self, action: &'static str, outcome: EventOutcome) {
        self.events.with_label_values(&[action, outcome.as_str()]).inc();
    }

    /// Records how long a webhook request took.
    pub fn ingest_duration(&self, seconds: f64) {
        self.ingest_duration.observe(seconds);
    }

    /// Records how late an event arrived. Clock skew can make it negative: that is counted
    /// as no lag.
    pub fn ingest_lag(&self, seconds: f64) {
        self.ingest_lag.observe(seconds.max(0.0));
    }

    /// Counts a failed store call. A bad cursor or query is the client's mistake, not the
    /// store's, and is not counted.
    pub fn store_error(&self, operation: &'static str, e: &StorageError) {
        if matches!(e, StorageError::InvalidCursor(_) | StorageError::InvalidQuery(_)) {
            return;
        }
        self.store_errors.with_label_values(&[operation, storage_error_kind(e)]).inc();
    }

    /// Records the store's backlog as last read.
    pub fn backlog(&self, events: u64) {
        self.backlog.set(i64::try_from(events).unwrap_or(i64::MAX));
    }

    /// Records how long a query took to its response head. `route` is the route's template,
    /// one of a fixed set, so clients cannot add series.
    pub fn api_request(&self, route: &str, status: u16, seconds: f64) {
        let class = match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.api_duration.with_label_values(&[route, class]).observe(seconds);
    }

    /// Counts a refused webhook request.
    pub fn webhook_rejected(&self, reason: &'static str) {
        self.webhook_rejected.with_label_values(&[reason]).inc();
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for I/O reasons; a metric-family error would be a
        // programming error, and an empty answer is the safe degradation.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
