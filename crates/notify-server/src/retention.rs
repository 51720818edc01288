//! The event log's retention (`log_retention`): which entries the pruner removes, when it
//! runs, and what a delivery older than the retention becomes.
//!
//! The log is also the dedup gate: once an entry is pruned, its id is forgotten, and a
//! redelivery of that event would count it again. So the same rule guards both sides:
//!
//! - the webhook quarantines an event stamped more than the retention before its arrival
//!   ([`Retention::oldest_accepted`]), with the reason, instead of counting it. It is kept
//!   (raw JSON and all), just not projected: it may be the redelivery of a pruned event;
//! - the pruner removes the entries stamped more than the retention and [`CLOCK_MARGIN`]
//!   ago ([`Retention::prune_before`]), at start and every [`PRUNE_INTERVAL`].
//!
//! Every entry the pruner removed is older than what the webhook still accepts, so no
//! redelivery of it can be counted again, on this replica or on another whose clock is up to
//! [`CLOCK_MARGIN`] behind. The rule needs no state of its own, only the same
//! `log_retention` on every replica. Lengthening the retention reopens, for the difference,
//! the window of events pruned under the shorter one; `import` applies no such rule (it
//! replays an export into a store, and the pruner trims the store afterwards).

use std::sync::Arc;
use std::time::Duration;

use notify_core::{Storage, StorageError, Timestamp};

use crate::metrics::Metrics;

/// How often the pruner runs.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// How much older than the oldest accepted delivery an entry must be to be pruned: room for
/// replicas whose clocks disagree.
pub const CLOCK_MARGIN: Duration = Duration::from_secs(3600);

/// A retention period and the two instants derived from it.
///
/// ```
/// use std::time::Duration;
/// use notify_core::Timestamp;
/// use notify_server::retention::Retention;
/// let r = Retention::new(Duration::from_secs(86_400));
/// let now: Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
/// assert_eq!(r.oldest_accepted(now).to_string(), "2026-12-05T12:00:00.000000Z");
/// assert_eq!(r.prune_before(now).to_string(), "2026-12-05T11:00:00.000000Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    period: Duration,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Retention {
    /// Keeps each log entry for `period` after its event's timestamp.
    pub fn new(period: Duration) -> Self {
        Retention { period }
    }

    /// The retention period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Deliveries of events stamped before this instant, as of `now`, are quarantined.
    pub fn oldest_accepted(&self, now: Timestamp) -> Timestamp {
        Timestamp::from_unix_micros(now.unix_micros().saturating_sub(micros(self.period)))
    }

    /// The pruner removes the log entries stamped before this instant, as of `now`.
    pub fn prune_before(&self, now: Timestamp) -> Timestamp {
        let oldest = self.oldest_accepted(now);
        Timestamp::from_unix_micros(oldest.unix_micros().saturating_sub(micros(CLOCK_MARGIN)))
    }

    /// Why a delivery of an event stamped `at` is quarantined, for the record.
    pub(crate) fn reason(&self, id: &str, at: Timestamp) -> String {
        format!(
            "event {id}: stamped {at}, older than the event log's retention ({}): its log entry \
             may have been pruned, so a redelivery could not be told apart; kept here, not counted",
            humantime::format_duration(self.period)
        )
    }
}

/// What one prune did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// The entries stamped before this instant were removed.
    pub before: Timestamp,
    /// How many.
    pub removed: u64,
}

/// Prunes once, as of now; counts what was removed and what failed.
pub async fn prune_once(
    store: &dyn Storage,
    retention: Retention,
    metrics: &Metrics,
) -> Result<Pruned, StorageError> {
    let before = retention.prune_before(Timestamp::from_datetime(&chrono::Utc::now()));
    match store.prune_events(before).await {
        Ok(removed) => {
            metrics.pruned(removed);
            tracing::info!(removed, before = %before, "event log pruned");
            Ok(Pruned { before, removed })
        }
        Err(e) => {
            metrics.store_error("prune", &e);
            tracing::warn!(error = %e.chain(), before = %before, "cannot prune the event log");
            Err(e)
        }
    }
}

/// Prunes at once, then every [`PRUNE_INTERVAL`], until the task is dropped. A failure is
/// logged and counted, and the next round tries again: pruning late costs only disk.
pub async fn run(store: Arc<dyn Storage>, retention: Retention, metrics: Metrics) {
    let mut every = tokio::time::interval(PRUNE_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let _ = prune_once(store.as_ref(), retention, &metrics).await;
    }
}
