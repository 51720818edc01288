//! Group commit: the events that arrive together are applied in one transaction.
//!
//! Every [`Storage::apply`](notify_core::Storage::apply) hands its plan to a queue and waits
//! for its answer. A few writer tasks (`PgConfig::writers`) each take whatever is queued, up to
//! [`MAX_BATCH`] plans, and writes it with one statement: one round trip, one commit, one WAL
//! flush for the lot. With deferred projection the statement logs the events and queues their
//! commands (`enqueue`, or `enqueue_one` for a batch of one, migration 13; the `project`
//! module writes the projections behind); inline, it is one call of
//! `apply_batch` (migration 9), or for a batch of one `apply_plan` (migration 2), which does
//! less for a single event. Nobody waits for a batch to fill: a lone
//! event is applied at once, alone, and under load the batches grow by themselves with the
//! queue that forms while the previous batch commits. Each caller is answered only after its
//! batch has committed, so "acknowledged" still means "durable".
//!
//! A batch fails as a whole. When the failure is the data's (a value the database refuses),
//! its plans are applied again one by one so that only the offending event is refused; when
//! the database is unreachable every caller gets the same transient error; a deadlock or
//! serialization failure is retried a few times first.
//!
//! The writers, and the projector with them, are spawned on the runtime of the first
//! `apply`. Should that runtime end
//! (tests build one per case), the queue closes, and the next `apply` starts new writers on
//! its own runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use notify_core::{ApplyOutcome, StorageError};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::Json;

use crate::Sql;
use crate::apply::{Queued, Wire};
use crate::error::{classify, is_retryable, pool_error};
use crate::project::{Load, Pace};

/// Plans applied in one transaction at most: bounds the statement's argument (a few hundred
/// KiB) and the time a batch holds its locks.
pub(crate) const MAX_BATCH: usize = 256;

/// How often a batch that lost a serialization or deadlock race is run again before the
/// failure is reported (as transient).
const ATTEMPTS: u32 = 5;

/// Plans waiting for a writer at most; beyond that `apply` waits for room.
const QUEUE: usize = 4 * MAX_BATCH;

type Answer = Result<ApplyOutcome, StorageError>;

/// One plan in the wire form, waiting for its batch.
struct Job {
    id: String,
    wire: Wire,
    reply: oneshot::Sender<Answer>,
}

/// The queue and what is needed to start writers on it.
pub(crate) struct Batcher {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    pool: Pool,
    sql: Arc<Sql>,
    writers: usize,
    pace: Pace,
    load: Arc<Load>,
}

impl Batcher {
    pub(crate) fn new(pool: Pool, sql: Arc<Sql>, writers: usize, pace: Pace) -> Self {
        Batcher { queue: Mutex::new(None), pool, sql, writers: writers.max(1), pace, load: Arc::default() }
    }

    /// Applies one plan (already in wire form) with whatever else is queued.
    pub(crate) async fn apply(&self, id: &str, wire: Wire) -> Answer {
        let _in_flight = self.load.enter();
        let (reply, answer) = oneshot::channel();
        let mut job = Job { id: id.to_owned(), wire, reply };
        // Twice at most: a closed queue is replaced once, by writers on this runtime.
        for _ in 0..2 {
            let queue = self.queue();
            match queue.send(job).await {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(StorageError::Unavailable {
                            message:
                                "the PostgreSQL writer stopped before answering (a retry is deduplicated)"
                                    .into(),
                            source: None,
                        })
                    });
                }
                Err(mpsc::error::SendError(back)) => {
                    job = back;
                    let mut slot = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                    if slot.as_ref().is_some_and(|q| q.same_channel(&queue)) {
                        *slot = None;
                    }
                }
            }
        }
        Err(StorageError::Unavailable {
            message: "no PostgreSQL writer could be started on this runtime".into(),
            source: None,
        })
    }

    /// The open queue, starting its writers first when there is none.
    fn queue(&self) -> mpsc::Sender<Job> {
        let mut slot = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(queue) = slot.as_ref().filter(|q| !q.is_closed()) {
            return queue.clone();
        }
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        // The projector runs in both modes: a queue left by a deferred run (of this process
        // or another) is projected even when this one applies inline.
        let (wake, woken) = mpsc::channel(1);
        tokio::spawn(crate::project::projector(
            self.pool.clone(),
            self.sql.clone(),
            self.load.clone(),
            self.pace,
            woken,
        ));
        for _ in 0..self.writers {
            let writer = Writer {
                pool: self.pool.clone(),
                sql: self.sql.clone(),
                load: self.load.clone(),
                max_lag: self.pace.max_lag,
                wake: wake.clone(),
            };
            tokio::spawn(write(jobs.clone(), writer));
        }
        *slot = Some(queue.clone());
        queue
    }
}

/// What a writer task holds.
struct Writer {
    pool: Pool,
    sql: Arc<Sql>,
    load: Arc<Load>,
    max_lag: usize,
    /// Wakes the projector after plans were queued.
    wake: mpsc::Sender<()>,
}

/// A writer: takes what is queued, applies it, answers; ends when the store is dropped.
async fn write(jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>, writer: Writer) {
    loop {
        let mut batch = Vec::new();
        {
            let mut jobs = jobs.lock().await;
            match jobs.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        apply_batch(&writer, batch).await;
    }
}

/// Applies a batch and answers every job in it.
async fn apply_batch(writer: &Writer, batch: Vec<Job>) {
    // One event delivered twice at once: the batch carries it once (the function expects
    // distinct ids); the other deliveries are duplicates of it whatever happens to it.
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
    let mut unique = Vec::with_capacity(batch.len());
    let mut again = Vec::new();
    for (i, job) in batch.iter().enumerate() {
        match first.get(job.id.as_str()) {
            Some(&at) => again.push((i, at)),
            None => {
                first.insert(&job.id, i);
                unique.push(i);
            }
        }
    }
    let plans: Vec<(&str, &Wire)> = unique.iter().map(|&i| (batch[i].id.as_str(), &batch[i].wire)).collect();
    let result = run(writer, &plans).await;
    let mut answers: Vec<Option<Answer>> = (0..batch.len()).map(|_| None).collect();
    match result {
        Ok(fresh) => {
            for &i in &unique {
                let applied = fresh.iter().any(|id| *id == batch[i].id);
                answers[i] = Some(Ok(if applied { ApplyOutcome::Applied } else { ApplyOutcome::Duplicate }));
            }
        }
        Err(e) if unique.len() > 1 && !e.is_transient() => {
            // Find the plan the database refuses: each alone, in its own transaction.
            for &i in &unique {
                answers[i] = Some(match run(writer, &[(batch[i].id.as_str(), &batch[i].wire)]).await {
                    Ok(fresh) if fresh.is_empty() => Ok(ApplyOutcome::Duplicate),
                    Ok(_) => Ok(ApplyOutcome::Applied),
                    Err(e) => Err(e),
                });
            }
        }
        Err(e) => {
            for &i in &unique {
                answers[i] = Some(Err(e.copied()));
            }
        }
    }
    for (i, at) in again {
        answers[i] = Some(match &answers[at] {
            Some(Ok(_)) => Ok(ApplyOutcome::Duplicate),
            Some(Err(e)) => Err(e.copied()),
            None => unreachable!("the first delivery is answered first"),
        });
    }
    for (job, answer) in batch.into_iter().zip(answers) {
        // A caller that has gone (its request was cancelled) needs no answer.
        let _ = job.reply.send(answer.unwrap_or_else(|| unreachable!("every job is answered")));
    }
}

/// Applies `plans` (id, wire form) in one transaction, retried after lost races; returns the
/// ids that were new. Queued events (deferred projection) are logged and their commands
/// queued; whole plans (inline) go to `apply_plan` alone, to `apply_batch` together. A store
/// has one mode, so a batch holds one kind.
async fn run(writer: &Writer, plans: &[(&str, &Wire)]) -> Result<Vec<String>, StorageError> {
    let mut queued = Vec::new();
    let mut whole = Vec::new();
    for &(id, wire) in plans {
        match wire {
            Wire::Queued(q) => queued.push(&**q),
            Wire::Plan(p) => whole.push((id, &**p)),
        }
    }
    let mut fresh = Vec::new();
    if !queued.is_empty() {
        writer.load.room(writer.max_lag).await;
        let logged = enqueue(writer, &queued).await?;
        if !logged.is_empty() {
            writer.load.queued(logged.len());
            // Full means a wake is already pending, which is all the projector needs.
            let _ = writer.wake.try_send(());
        }
        fresh = logged;
    }
    if !whole.is_empty() {
        fresh.extend(apply(writer, &whole).await?);
    }
    Ok(fresh)
}

/// Applies whole plans (inline projection) in one transaction; returns the ids that were new.
async fn apply(writer: &Writer, wires: &[(&str, &RawValue)]) -> Result<Vec<String>, StorageError> {
    let (pool, sql) = (&writer.pool, &writer.sql);
    let client = pool.get().await.map_err(pool_error)?;
    let text = if wires.len() == 1 { &sql.apply_one } else { &sql.apply };
    let stmt = client.prepare_cached(text).await.map_err(|e| classify("preparing apply", e))?;
    let mut attempt = 1;
    loop {
        let result = if let [(id, wire)] = wires {
            client.query_one(&stmt, &[&Json(wire)]).await.and_then(|row| {
                let applied: bool = row.try_get(0)?;
                Ok(if applied { vec![(*id).to_owned()] } else { Vec::new() })
            })
        } else {
            let texts: Vec<&str> = wires.iter().map(|(_, wire)| wire.get()).collect();
            client.query_one(&stmt, &[&texts]).await.and_then(|row| row.try_get(0))
        };
        match result {
            Ok(fresh) => return Ok(fresh),
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                tokio::time::sleep(backoff(wires[0].0, attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(classify("applying events", e)),
        }
    }
}

/// Back off, longer each time and by an amount that differs per batch, so that the
/// transactions that collided do not collide again in lockstep.
fn backoff(first_id: &str, attempt: u32) -> Duration {
    let spread = first_id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    Duration::from_millis(1 << attempt) + Duration::from_micros(spread % 2_000)
}

/// Logs the new events of `batch` and queues their commands, in one transaction; returns
/// the ids that were new. A lone event goes to `enqueue_one`, more to `enqueue`
/// (migration 13).
async fn enqueue(writer: &Writer, batch: &[&Queued]) -> Result<Vec<String>, StorageError> {
    if let Some(q) = batch.iter().find(|q| q.holds_nul()) {
        return Err(StorageError::Rejected {
            message: format!("event {}: PostgreSQL text cannot hold a NUL character", q.id),
            source: None,
        });
    }
    let client = writer.pool.get().await.map_err(pool_error)?;
    let mut attempt = 1;
    loop {
        let result = if let [q] = batch {
            let stmt = client
                .prepare_cached(&writer.sql.enqueue_one)
                .await
                .map_err(|e| classify("preparing enqueue", e))?;
            client
                .query_one(
                    &stmt,
                    &[
                        &q.id,
                        &q.at,
                        &q.action,
                        &q.registry,
                        &q.repository,
                        &q.tag,
                        &q.digest,
                        &q.media_type,
                        &q.kind,
                        &q.actor,
                        &q.client_ip,
                        &q.method,
                        &q.user_agent,
                        &q.source_instance,
                        &q.counted,
                        &q.raw,
                        &q.commands,
                    ],
                )
                .await
                .and_then(|row| {
                    let queued: bool = row.try_get(0)?;
                    Ok(if queued { vec![q.id.clone()] } else { Vec::new() })
                })
        } else {
            let stmt = client
                .prepare_cached(&writer.sql.enqueue)
                .await
                .map_err(|e| classify("preparing enqueue", e))?;
            let column = |f: fn(&Queued) -> Option<&str>| batch.iter().map(|q| f(q)).collect::<Vec<_>>();
            let text = |f: fn(&Queued) -> &str| batch.iter().map(|q| f(q)).collect::<Vec<_>>();
            let ats: Vec<i64> = batch.iter().map(|q| q.at).collect();
            let counted: Vec<bool> = batch.iter().map(|q| q.counted).collect();
            client
                .query_one(
                    &stmt,
                    &[
                        &text(|q| &q.id),
                        &ats,
                        &text(|q| &q.action),
                        &text(|q| &q.registry),
                        &text(|q| &q.repository),
                        &column(|q| q.tag.as_deref()),
                        &column(|q| q.digest.as_deref()),
                        &column(|q| q.media_type.as_deref()),
                        &text(|q| q.kind),
                        &column(|q| q.actor.as_deref()),
                        &column(|q| q.client_ip.as_deref()),
                        &column(|q| q.method.as_deref()),
                        &column(|q| q.user_agent.as_deref()),
                        &column(|q| q.source_instance.as_deref()),
                        &counted,
                        &text(|q| &q.raw),
                        &text(|q| &q.commands),
                    ],
                )
                .await
                .and_then(|row| row.try_get(0))
        };
        match result {
            Ok(fresh) => return Ok(fresh),
            // Two batches logging the same events in one id order wait for each other but
            // cannot deadlock; a deadlock against anything else is retried like inline.
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                tokio::time::sleep(backoff(&batch[0].id, attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(classify("queueing events", e)),
        }
    }
}
