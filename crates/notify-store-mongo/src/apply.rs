//! Applying a plan: in a transaction when the deployment has them, else with the marker
//! protocol of the crate docs; and [`MongoStore::recover`], which finishes what crashed
//! writers left pending.

use std::time::{Duration, Instant};

use mongodb::ClientSession;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use notify_core::{ApplyOutcome, Command, Plan, StorageError};

use crate::builders::{self, Coll, EntryState, Write};
use crate::error::{is_duplicate_key, storage_error};
use crate::{MongoStore, decode, now_ms};

/// How often a transaction failing with a transient error is tried.
const TRANSACTION_ATTEMPTS: u32 = 10;
/// How often a commit with an unknown result is retried.
const COMMIT_ATTEMPTS: u32 = 5;
/// How long a redelivery waits for another writer to finish the same event.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// How many pending entries or marked documents recovery reads per batch.
const RECOVERY_BATCH: i64 = 500;

/// What [`MongoStore::recover`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Pending events finished.
    pub finished: usize,
    /// Leftover markers removed.
    pub markers_removed: usize,
}

/// Why applying stopped.
enum Failure {
    /// A failure the writer survives: its lease is released so a redelivery need not wait.
    Storage(StorageError),
    /// The writer no longer owns the entry; leave it to the owner.
    LeaseLost,
    /// A simulated crash (tests): nothing more is written, not even a lease release.
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    Crash,
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Storage(e)
    }
}

impl Failure {
    fn into_error(self, id: &str) -> StorageError {
        match self {
            Failure::Storage(e) => e,
            Failure::LeaseLost => StorageError::Unavailable {
                message: format!("event {id:?} was taken over by another writer while being applied"),
                source: None,
            },
            Failure::Crash => StorageError::Unavailable {
                message: format!("injected crash while applying event {id:?}"),
                source: None,
            },
        }
    }
}

/// A simulated crash after a given number of steps, for the crash-point tests.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Default)]
pub(crate) struct Faults {
    remaining: std::sync::atomic::AtomicUsize,
}

#[cfg(feature = "fault-injection")]
impl MongoStore {
    /// Makes the next applies crash right after their `steps`-th step (counted over all applies
    /// from now on; 0 disarms). Steps: the entry insert, each projection write, marking the
    /// entry applied. A crash writes nothing more, so the entry keeps its lease: configure a
    /// short [`crate::MongoConfig::apply_lease`] to redeliver soon.
    pub fn crash_after_steps(&self, steps: usize) {
        self.faults.remaining.store(steps, std::sync::atomic::Ordering::SeqCst);
    }
}

impl MongoStore {
    /// Counts a step; fails when a simulated crash is due.
    fn step(&self) -> Result<(), Failure> {
        #[cfg(feature = "fault-injection")]
        {
            use std::sync::atomic::Ordering;
            let before =
                self.faults.remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1));
            if before == Ok(1) {
                return Err(Failure::Crash);
            }
        }
        Ok(())
    }

    pub(crate) async fn apply_plan(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        if self.transactions {
            self.apply_in_transaction(plan).await
        } else {
            self.apply_with_markers(plan).await
        }
    }

    // --- with transactions -----------------------------------------------------------------

    async fn apply_in_transaction(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        let entry = builders::log_entry(&plan.entry, EntryState::Applied);
        let writes = writes_of(&plan.commands, None)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.run_transaction(&entry, &writes).await {
                Ok(true) => return Ok(ApplyOutcome::Applied),
                // The entry exists: applied (a duplicate), or pending from the marker protocol.
                Ok(false) => return self.resume(&plan.entry.id).await,
                Err(TxFailure::Driver(e))
                    if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && attempt < TRANSACTION_ATTEMPTS =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(TxFailure::Driver(e)) => return Err(storage_error("transaction", e)),
                Err(TxFailure::Failed(f)) => return Err(f.into_error(&plan.entry.id)),
            }
        }
    }

    /// One transaction: `Ok(false)` when the entry already exists.
    async fn run_transaction(&self, entry: &Document, writes: &[Write]) -> Result<bool, TxFailure> {
        let mut session = self.client.start_session().await?;
        session.start_transaction().write_concern(self.write_concern.clone()).await?;
        match self.collection(Coll::Events).insert_one(entry).session(&mut session).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {
                // Best effort: dropping the session aborts the transaction too.
                let _ = session.abort_transaction().await;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        self.step()?;
        for w in writes {
            self.collection(w.coll)
                .update_one(w.filter.clone(), w.update.clone())
                .upsert(true)
                .session(&mut session)
                .await?;
            self.step()?;
        }
        commit(&mut session).await?;
        Ok(true)
    }

    // --- without transactions: the marker protocol -------------------------------------------

    async fn apply_with_markers(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        let id = &plan.entry.id;
        let commands = serde_json::to_string(&plan.commands)
            .map_err(|e| StorageError::rejected("the plan cannot be encoded as JSON", e))?;
        // Built before anything is written: data MongoDB cannot hold is rejected up front.
        let writes = writes_of(&plan.commands, Some(id))?;
        let mut lease = Lease { owner: self.new_owner(), until: now_ms() + self.lease_ms() };
        let state =
            EntryState::Pending { commands: &commands, owner: &lease.owner, lease_until: lease.until };
        match self.collection(Coll::Events).insert_one(builders::log_entry(&plan.entry, state)).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => return self.resume(id).await,
            Err(e) => {
                // The insert may have reached the server: let a redelivery in at once.
                self.release(id, &lease.owner).await;
                return Err(storage_error("event insert", e));
            }
        }
        if let Err(f) = self.step() {
            return Err(f.into_error(id));
        }
        self.finish(id, &writes, &mut lease).await?;
        Ok(ApplyOutcome::Applied)
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Steps 2 and 3 of the protocol for an entry this writer owns.
    async fn finish(&self, id: &str, writes: &[Write], lease: &mut Lease) -> Result<(), StorageError> {
        match self.finish_owned(id, writes, lease).await {
            Ok(()) => Ok(()),
            Err(Failure::Storage(e)) => {
                self.release(id, &lease.owner).await;
                Err(e)
            }
            Err(f) => Err(f.into_error(id)),
        }
    }

    async fn finish_owned(&self, id: &str, writes: &[Write], lease: &mut Lease) -> Result<(), Failure> {
        for w in writes {
            self.keep_lease(id, lease).await?;
            self.write(w).await?;
            self.step()?;
        }
        let marked = self
            .collection(Coll::Events)
            .update_one(builders::owned_filter(id, &lease.owner), builders::mark_applied_update())
            .await
            .map_err(|e| storage_error("marking the event applied", e))?;
        if marked.matched_count == 0 {
            return Err(Failure::LeaseLost);
        }
        self.step()?;
        for w in writes.iter().filter(|w| w.guarded) {
            // Best effort: a marker left behind cannot matter (the event is applied) and
            // `recover` removes it.
            let _ = self.collection(w.coll).update_one(w.key(), builders::marker_removal(id)).await;
        }
        Ok(())
    }

    /// One projection write of the marker protocol.
    async fn write(&self, w: &Write) -> Result<(), Failure> {
        let coll = self.collection(w.coll);
        match coll.update_one(w.filter.clone(), w.update.clone()).upsert(true).await {
            Ok(_) => Ok(()),
            // The upsert found no document to update and could not insert one: another writer
            // created it meanwhile (the server retries that itself only for filters on the
            // unique key alone), or, when guarded, it already holds this event's marker.
            // Updating without upsert then applies the write, or matches nothing if the
            // marker is there.
            Err(e) if is_duplicate_key(&e) => coll
                .update_one(w.filter.clone(), w.update.clone())
                .await
                .map(|_| ())
                .map_err(|e| Failure::Storage(storage_error("projection write", e))),
            Err(e) => Err(Failure::Storage(storage_error("projection write", e))),
        }
    }

    /// Renews the lease once half of it has passed; fails if another writer took the entry.
    async fn keep_lease(&self, id: &str, lease: &mut Lease) -> Result<(), Failure> {
        let now = now_ms();
        if now < lease.until - self.lease_ms() / 2 {
            return Ok(());
        }
        let until = now + self.lease_ms();
        let renewed = self
            .collection(Coll::Events)
            .update_one(builders::owned_filter(id, &lease.owner), builders::lease_update(&lease.owner, until))
            .await
            .map_err(|e| storage_error("lease renewal", e))?;
        if renewed.matched_count == 0 {
            return Err(Failure::LeaseLost);
        }
        lease.until = until;
        Ok(())
    }

    /// Gives the lease up after a failure the writer survived (best effort).
    async fn release(&self, id: &str, owner: &str) {
        let _ = self
            .collection(Coll::Events)
            .update_one(builders::owned_filter(id, owner), builders::release_update())
            .await;
    }

    /// Step 4: the entry exists. Duplicate if applied; else wait for its owner, or take it over
    /// and finish its stored commands.
    async fn resume(&self, id: &str) -> Result<ApplyOutcome, StorageError> {
        let deadline = Instant::now() + MAX_WAIT.min(self.lease * 2);
        let mut pause = Duration::from_millis(2);
        loop {
            let entry = self
                .collection(Coll::Events)
                .find_one(builders::by_id(id))
                .projection(builders::entry_state_projection())
                .await
                .map_err(|e| storage_error("event lookup", e))?
                .ok_or_else(|| {
                    crate::error::corrupt(format!("event {id:?} conflicts but cannot be found"))
                })?;
            if !matches!(entry.get("applied"), Some(Bson::Boolean(false))) {
                return Ok(ApplyOutcome::Duplicate);
            }
            let lease = decode::embedded(&entry, "lease")?
                .ok_or_else(|| crate::error::corrupt(format!("pending event {id:?} without a lease")))?;
            let owner = decode::required(lease, "owner")?;
            let until = decode::int(lease, "until")?.unwrap_or(0);
            let now = now_ms();
            if until > now {
                if Instant::now() >= deadline {
                    return Err(StorageError::Unavailable {
                        message: format!("event {id:?} is being applied by another writer"),
                        source: None,
                    });
                }
                let left = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(Duration::from_millis(50));
                continue;
            }
            let mut mine = Lease { owner: self.new_owner(), until: now + self.lease_ms() };
            let claimed = self
                .collection(Coll::Events)
                .update_one(
                    builders::claim_filter(id, &owner, until),
                    builders::lease_update(&mine.owner, mine.until),
                )
                .await
                .map_err(|e| storage_error("lease claim", e))?;
            if claimed.matched_count == 0 {
                continue;
            }
            let text = decode::required(&entry, "commands")?;
            let commands: Vec<Command> = serde_json::from_str(&text).map_err(|e| {
                StorageError::internal(format!("pending event {id:?} has unreadable commands"), e)
            })?;
            let writes = writes_of(&commands, Some(id))?;
            self.finish(id, &writes, &mut mine).await?;
            return Ok(ApplyOutcome::Applied);
        }
    }

    /// Finishes the events left pending by writers that crashed (their lease expired), and
    /// removes markers left behind by writers that crashed after marking an event applied.
    /// Runs at start-up unless [`crate::MongoConfig::recover_on_connect`] is off; safe to run
    /// at any time, by any number of processes.
    pub async fn recover(&self) -> Result<RecoveryReport, StorageError> {
        let mut report = RecoveryReport::default();
        let now = now_ms();
        let mut after: Option<Bson> = None;
        loop {
            let mut filter = builders::expired_pending_filter(now);
            if let Some(last) = &after {
                filter.insert("_id", doc! { "$gt": last.clone() });
            }
            let batch = self.ids(Coll::Events, filter).await?;
            for id in &batch {
                match self.resume(id).await {
                    Ok(ApplyOutcome::Applied) => report.finished += 1,
                    Ok(ApplyOutcome::Duplicate) => {}
                    // Another writer took it over meanwhile and is still at work: its business.
                    Err(e) if e.is_transient() => {}
                    Err(e) => return Err(e),
                }
            }
            match batch.last() {
                Some(last) if batch.len() as i64 == RECOVERY_BATCH => {
                    after = Some(Bson::String(last.clone()))
                }
                _ => break,
            }
        }
        for coll in [Coll::Repositories, Coll::Tags, Coll::Links] {
            let mut after: Option<Bson> = None;
            loop {
                let mut filter = builders::marked_filter();
                if let Some(last) = &after {
                    filter.insert("_id", doc! { "$gt": last.clone() });
                }
                let marked = self.marked(coll, filter).await?;
                for doc in &marked {
                    report.markers_removed += self.remove_leftover_markers(coll, doc).await?;
                }
                match marked.last().and_then(|d| d.get("_id")) {
                    Some(last) if marked.len() as i64 == RECOVERY_BATCH => after = Some(last.clone()),
                    _ => break,
                }
            }
        }
        Ok(report)
    }

    /// The `_id`s (strings) of a batch of documents matching `filter`, in `_id` order.
    async fn ids(&self, coll: Coll, filter: Document) -> Result<Vec<String>, StorageError> {
        let docs = self.marked_or_ids(coll, filter, doc! { "_id": 1 }).await?;
        docs.iter().map(|d| decode::required(d, "_id")).collect()
    }

    /// A batch of documents holding markers, with their markers, in `_id` order.
    async fn marked(&self, coll: Coll, filter: Document) -> Result<Vec<Document>, StorageError> {
        self.marked_or_ids(coll, filter, doc! { builders::MARKERS: 1 }).await
    }

    async fn marked_or_ids(
        &self,
        coll: Coll,
        filter: Document,
        projection: Document,
    ) -> Result<Vec<Document>, StorageError> {
        let what = |e| storage_error("recovery scan", e);
        let mut cursor = self
            .collection(coll)
            .find(filter)
            .projection(projection)
            .sort(doc! { "_id": 1 })
            .limit(RECOVERY_BATCH)
            .await
            .map_err(what)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(what)? {
            out.push(cursor.deserialize_current().map_err(what)?);
        }
        Ok(out)
    }

    /// Removes from `doc` the markers of events that are applied; returns how many.
    async fn remove_leftover_markers(&self, coll: Coll, doc: &Document) -> Result<usize, StorageError> {
        let Some(key) = doc.get("_id").cloned() else { return Ok(0) };
        let mut removed = 0;
        for marker in decode::sorted_strings(doc, builders::MARKERS)? {
            let applied = self
                .collection(Coll::Events)
                .find_one(doc! { "_id": &marker, "applied": true })
                .projection(doc! { "_id": 1 })
                .await
                .map_err(|e| storage_error("event lookup", e))?
                .is_some();
            // A pending event's markers are still needed by whoever finishes it.
            if applied {
                self.collection(coll)
                    .update_one(doc! { "_id": key.clone() }, builders::marker_removal(&marker))
                    .await
                    .map_err(|e| storage_error("marker removal", e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A writer's ownership of a pending entry.
struct Lease {
    owner: String,
    until: i64,
}

enum TxFailure {
    Driver(Error),
    Failed(Failure),
}

impl From<Error> for TxFailure {
    fn from(e: Error) -> Self {
        TxFailure::Driver(e)
    }
}

impl From<Failure> for TxFailure {
    fn from(f: Failure) -> Self {
        TxFailure::Failed(f)
    }
}

async fn commit(session: &mut ClientSession) -> Result<(), Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match session.commit_transaction().await {
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && attempt < COMMIT_ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Short, growing pauses between retries of conflicting transactions.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(2_u64 << attempt.min(6))
}

/// The writes of every command of a plan, in order.
fn writes_of(commands: &[Command], marker: Option<&str>) -> Result<Vec<Write>, StorageError> {
    let mut writes = Vec::new();
    for command in commands {
        writes.extend(builders::command_writes(command, marker)?);
    }
    Ok(writes)
}
