//! Pruning the event log, a slice per request.

use mongodb::bson::{Bson, doc};
use notify_core::{StorageError, Timestamp};

use crate::MongoStore;
use crate::builders::Coll;
use crate::error::storage_error;

/// Log entries one `deleteMany` removes at most, so that no single request holds the
/// collection's write path for long.
const SLICE: usize = 1_000;

impl MongoStore {
    /// Removes the applied log entries stamped before `before`, oldest first. An entry still
    /// pending (a writer crashed in the middle of it) stays until recovery finishes it: its
    /// document carries the commands recovery needs, and the next prune takes it.
    pub(crate) async fn prune(&self, before: Timestamp) -> Result<u64, StorageError> {
        let old = doc! { "at": { "$lt": before.unix_micros() }, "applied": true };
        let mut removed = 0;
        loop {
            let slice = self
                .find_docs(
                    Coll::Events,
                    old.clone(),
                    Some(doc! { "at": 1, "_id": 1 }),
                    Some(doc! { "_id": 1 }),
                    Some(SLICE),
                )
                .await?;
            let ids: Vec<Bson> = slice.iter().filter_map(|d| d.get("_id").cloned()).collect();
            if ids.is_empty() {
                return Ok(removed);
            }
            let mut filter = old.clone();
            filter.insert("_id", doc! { "$in": ids });
            removed += self
                .collection(Coll::Events)
                .delete_many(filter)
                .await
                .map_err(|e| storage_error("pruning the event log", e))?
                .deleted_count;
            if slice.len() < SLICE {
                return Ok(removed);
            }
        }
    }
}
