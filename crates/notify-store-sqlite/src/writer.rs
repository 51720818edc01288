//! The writer thread: the one connection that writes, fed by a channel, committing in groups.
//!
//! SQLite lets one connection write at a time, so writes are queued to a dedicated OS thread
//! rather than contending for the lock from many tasks. The thread takes whatever has queued
//! up (at most `max_batch` requests), runs them in one `BEGIN IMMEDIATE` transaction, each
//! inside its own savepoint, commits once, and only then answers each request. With
//! `synchronous=FULL` a commit costs a disk sync, so under load one sync covers a whole batch
//! (group commit), while a lone request is committed at once. After a batch of several, the
//! writer waits a fraction of a disk sync (`SqliteConfig::group_wait`) for that many requests
//! to queue again before it commits, so that concurrent writers stay in one batch.
//!
//! A request that fails is rolled back to its savepoint alone and answered with its error; if
//! the commit fails, every request of the batch is answered with that failure, and nothing of
//! the batch is stored.
//!
//! The async side only sends and awaits a reply, so no async worker thread ever blocks on
//! SQLite. The channel is bounded: when the writer falls behind, senders wait (backpressure).

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify_core::query::QuarantineRecord;
use notify_core::{ApplyOutcome, Plan, StorageError, Timestamp};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::apply;
use crate::error::{SqliteError, classify};

/// Requests waiting for the writer at most; more senders wait.
const QUEUE: usize = 1024;

/// How often the writer looks for more requests while it gathers a batch.
const GATHER_POLL: Duration = Duration::from_micros(50);

type Reply<T> = oneshot::Sender<Result<T, StorageError>>;

enum Request {
    Apply(Box<Plan>, Reply<ApplyOutcome>),
    Quarantine(Box<QuarantineRecord>, Reply<ApplyOutcome>),
    Ping(Reply<()>),
    /// One slice of a prune: at most [`PRUNE_SLICE`] log entries.
    Prune(Timestamp, Reply<u64>),
}

/// Log entries one prune request removes at most: a slice took 60–125 ms on logs of 100,000
/// to 400,000 events (`sqlite-bench --prune`), which is as long as the deliveries queued
/// behind it wait, where a whole log at once could hold them for minutes. Slices of 5,000
/// pruned 29 % faster and held them five times as long.
const PRUNE_SLICE: u64 = 1_000;

/// The handle of the writer thread. Dropping it lets the thread finish the queued requests,
/// and waits for it to close the connection.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

fn stopped() -> StorageError {
    StorageError::Unavailable { message: "the SQLite writer thread has stopped".to_owned(), source: None }
}

impl Writer {
    /// Starts the thread that owns `conn`.
    pub(crate) fn start(conn: Connection, grouping: Grouping) -> Result<Self, SqliteError> {
        let (queue, requests) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("notify-sqlite-writer".to_owned())
            .spawn(move || run(conn, requests, grouping))
            .map_err(SqliteError::Thread)?;
        Ok(Writer { queue: Some(queue), thread: Some(thread) })
    }

    async fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, StorageError> {
        let queue = self.queue.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        queue.send(request(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) async fn apply(&self, plan: &Plan) -> Result<ApplyOutcome, StorageError> {
        self.call(|reply| Request::Apply(Box::new(plan.clone()), reply)).await
    }

    pub(crate) async fn quarantine(&self, record: &QuarantineRecord) -> Result<ApplyOutcome, StorageError> {
        self.call(|reply| Request::Quarantine(Box::new(record.clone()), reply)).await
    }

    /// Succeeds when the writer can take SQLite's write lock and commit.
    pub(crate) async fn ping(&self) -> Result<(), StorageError> {
        self.call(Request::Ping).await
    }

    /// Removes the log entries stamped before `before`, a slice per commit, so that
    /// deliveries are committed between the slices.
    pub(crate) async fn prune(&self, before: Timestamp) -> Result<u64, StorageError> {
        let mut removed = 0;
        loop {
            let slice = self.call(|reply| Request::Prune(before, reply)).await?;
            removed += slice;
            if slice < PRUNE_SLICE {
                return Ok(removed);
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // The thread has nothing left to do once the queue is closed and drained; a
            // panic there was already reported to every waiting request as "stopped".
            let _ = thread.join();
        }
    }
}

/// How the writer groups requests into one commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grouping {
    /// Most requests per commit.
    pub(crate) max_batch: usize,
    /// How long to wait for the requesters of the last batch to come back.
    pub(crate) wait: Duration,
}

fn run(conn: Connection, mut requests: mpsc::Receiver<Request>, grouping: Grouping) {
    let mut batch = Vec::with_capacity(grouping.max_batch);
    let mut last = 0;
    while let Some(first) = requests.blocking_recv() {
        batch.push(first);
        // Requesters answered together come back together, a few microseconds apart: taking
        // only those already queued would commit a few of them at once and leave the rest to
        // the next commit, a whole disk sync later. After a batch of several, wait a little
        // for as many; a lone writer (a batch of one) never waits.
        let deadline = (last > 1).then(|| Instant::now() + grouping.wait);
        let want = last.clamp(1, grouping.max_batch);
        loop {
            while batch.len() < grouping.max_batch {
                match requests.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            match deadline {
                Some(deadline) if batch.len() < want && Instant::now() < deadline => {
                    std::thread::sleep(GATHER_POLL);
                }
                _ => break,
            }
        }
        last = batch.len();
        commit(&conn, &mut batch);
    }
    // Lets SQLite refresh the statistics its query planner uses, as it recommends doing
    // before closing a long-lived connection; failing it changes nothing stored.
    let _ = conn.execute_batch("PRAGMA optimize");
}

/// What one request produced before the commit.
enum Done {
    Stored(ApplyOutcome),
    Pinged,
    Pruned(u64),
}

type Outcome = Result<Done, StorageError>;

fn run_one(conn: &Connection, request: &Request) -> Outcome {
    match request {
        Request::Apply(plan, _) => apply::apply_plan(conn, plan).map(Done::Stored),
        Request::Quarantine(record, _) => apply::quarantine(conn, record).map(Done::Stored),
        Request::Ping(_) => Ok(Done::Pinged),
        Request::Prune(before, _) => apply::prune_slice(conn, *before, PRUNE_SLICE).map(Done::Pruned),
    }
}

/// Runs every request of `batch` in one transaction, then answers each.
fn commit(conn: &Connection, batch: &mut Vec<Request>) {
    let outcomes = match conn.execute_batch("BEGIN IMMEDIATE") {
        Err(e) => {
            let e = classify("starting a write transaction", e);
            batch.iter().map(|_| Err(e.copied())).collect()
        }
        Ok(()) => run_batch(conn, batch),
    };
    for (request, outcome) in batch.drain(..).zip(outcomes) {
        // A requester that stopped waiting (its future was dropped) needs no answer.
        match request {
            Request::Apply(_, reply) | Request::Quarantine(_, reply) => {
                let _ = reply.send(outcome.map(|done| match done {
                    Done::Stored(outcome) => outcome,
                    Done::Pinged | Done::Pruned(_) => ApplyOutcome::Applied,
                }));
            }
            Request::Ping(reply) => {
                let _ = reply.send(outcome.map(|_| ()));
            }
            Request::Prune(_, reply) => {
                let _ = reply.send(outcome.map(|done| match done {
                    Done::Pruned(n) => n,
                    Done::Stored(_) | Done::Pinged => 0,
                }));
            }
        }
    }
}

/// Runs the batch inside the open transaction and commits it.
fn run_batch(conn: &Connection, batch: &[Request]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(batch.len());
    for request in batch {
        let outcome = conn
            .execute_batch("SAVEPOINT request")
            .map_err(|e| classify("starting a savepoint", e))
            .and_then(|()| run_one(conn, request));
        let closed = match &outcome {
            Ok(_) => conn.execute_batch("RELEASE request"),
            Err(_) if conn.is_autocommit() => Ok(()),
            Err(_) => conn.execute_batch("ROLLBACK TO request; RELEASE request"),
        };
        let failed = outcome.as_ref().err().map(StorageError::copied);
        outcomes.push(outcome);
        // SQLite rolls the whole transaction back by itself after some failures (I/O, full
        // disk, out of memory): everything done so far in the batch is gone with it.
        if conn.is_autocommit() || closed.is_err() {
            let cause = match (closed, failed) {
                (Err(e), _) => classify("closing a savepoint", e),
                (Ok(()), Some(e)) => e,
                (Ok(()), None) => StorageError::Internal {
                    message: "the write transaction ended unexpectedly".to_owned(),
                    source: None,
                },
            };
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return batch.iter().map(|_| Err(cause.copied())).collect();
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let e = classify("committing", e);
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return batch.iter().map(|_| Err(e.copied())).collect();
    }
    outcomes
}
