//! Pruning the event log, a slice per transaction.

use notify_core::{StorageError, Timestamp};

use crate::PgStore;
use crate::error::classify;
use crate::read::bound;

/// Log entries one statement removes at most. A slice commits in a fraction of a second, so
/// the projector and the readers never wait long behind it, and its WAL stays small; a
/// whole log at once would hold its row locks and vacuum's horizon for minutes.
const SLICE: i64 = 1_000;

impl PgStore {
    /// Removes the log entries stamped before `before`, oldest first, one slice per
    /// transaction; what is queued is projected first (through `client`), so that an
    /// acknowledged event old enough is pruned too.
    pub(crate) async fn prune(&self, before: Timestamp) -> Result<u64, StorageError> {
        let s = &self.sql.schema;
        // SKIP LOCKED: two replicas pruning at once share the work instead of queueing
        // behind each other's slices. `= ANY (ARRAY(…))`: the slice is chosen once, by an
        // init plan; an `IN` may be planned as a semi join that runs the locked subquery
        // again for each row of the log (migration 21 tells how the queue met that plan).
        let sql = format!(
            "DELETE FROM {s}.events WHERE id = ANY (ARRAY( \
             SELECT id FROM {s}.events WHERE at < $1 ORDER BY at, id LIMIT $2 FOR UPDATE SKIP LOCKED))"
        );
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await.map_err(|e| classify("preparing a prune", e))?;
        let before = bound(before.unix_micros());
        let mut removed = 0;
        loop {
            let slice = client
                .execute(&stmt, &[&before, &SLICE])
                .await
                .map_err(|e| classify("pruning the event log", e))?;
            removed += slice;
            if slice < SLICE as u64 {
                return Ok(removed);
            }
        }
    }
}
