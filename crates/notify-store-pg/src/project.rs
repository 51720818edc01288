//! Deferred projection: the queue of plans (migration 8) and what empties it.
//!
//! With [`Projection::Deferred`](crate::Projection::Deferred) the writers only log each
//! event and queue its plan's commands (migration 13). Two things project them: the projector task, woken by each commit of the writers (and
//! once a second, for what another process or a previous run left), with its helpers when
//! the queue runs behind, and every read, which first projects what was queued before it
//! began (`settle`), so that the queue never shows through the `Storage` trait. All take
//! plans with `SKIP LOCKED`, so any number of them, in any number of processes, share the
//! work without waiting on each other; a read then waits only for the plans another
//! transaction is projecting at that moment.
//!
//! Commands the database refuses do not block the queue: the batch they were in is
//! projected again event by event, and the event that still fails is moved, log row and
//! all, to the quarantine with the database's reason, as the webhook does when an inline
//! apply is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::{Client, Pool};
use notify_core::StorageError;
use tokio::sync::{Notify, mpsc};

use crate::Sql;
use crate::error::{classify, pool_error};

/// Plans projected per transaction: larger than a writer's batches, since nobody waits for
/// them, and still a bounded time for the locks of one transaction.
const BATCH: i32 = 512;

/// How often the projector looks at the queue without being woken.
const TICK: Duration = Duration::from_secs(1);

/// How often a gathering projector looks whether a full batch is queued.
const GATHER_LOOK: Duration = Duration::from_millis(5);

/// How long the projector gives way to a burst before it looks again.
const GIVE_WAY: Duration = Duration::from_millis(2);

/// Plans queued (by this process) at which the projector's helpers join it: two full
/// batches, so that they work only when one projector is behind, never on the few plans of
/// steady traffic, which would then cost two smaller transactions instead of one.
const HELP_AT: usize = 2 * BATCH as usize;

/// Deliveries in progress at once that make a burst: one sender (a registry instance) has
/// at most one in flight, so two or more mean several are sending at once.
const BURST: usize = 2;

/// Plans projected between two vacuums of the queue by the projector. Every queued row is
/// deleted within a second or so, and autovacuum looks at a table at most once a minute
/// (`autovacuum_naptime`): under a sustained load of 8,000 events a second the queue grew to
/// 368 MB for a few hundred live rows, all of it in the buffer cache that the projection's
/// indexes need. Vacuumed every 20,000 plans it stays a few tens of megabytes.
const VACUUM_EVERY: usize = 20_000;

/// How long a writer waits at most for the projector to make room in a full queue. Past it
/// the writer queues anyway: a projector that cannot work (the database is failing it) must
/// not hold acknowledgements back too.
const ROOM_WAIT: Duration = Duration::from_secs(10);

/// When the projector works, and with how many transactions at most, from
/// [`PgConfig`](crate::PgConfig): `max_lag`, `max_delay`, `gather` and `projectors` there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) max_lag: usize,
    pub(crate) max_delay: Duration,
    pub(crate) gather: Duration,
    pub(crate) projectors: usize,
}

/// What the projector knows of the acknowledgements in progress in this process, and how
/// the writers wait for it when the queue is full.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// `apply` calls not yet answered.
    in_flight: AtomicUsize,
    /// Plans queued by this process and not yet seen projected: an estimate (reads and other
    /// processes project too), set back to 0 whenever the queue is found empty.
    queued: AtomicUsize,
    /// Signalled after each projected batch.
    room: Notify,
    /// Plans projected since the queue was last vacuumed.
    since_vacuum: AtomicUsize,
}

impl Load {
    /// Counts an `apply` until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub(crate) fn queued(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::Relaxed);
    }

    fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn projected(&self, n: usize) {
        let _ = self.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| Some(q.saturating_sub(n)));
        self.room.notify_waiters();
    }

    /// Counts `n` plans taken out of the queue; true once [`VACUUM_EVERY`] were since the
    /// last time it said so.
    fn vacuum_due(&self, n: usize) -> bool {
        let before = self.since_vacuum.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) < VACUUM_EVERY {
            return false;
        }
        self.since_vacuum.store(0, Ordering::Relaxed);
        true
    }

    /// Whether several deliveries are in progress at once.
    fn burst(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) >= BURST
    }

    /// Waits, before queueing more, while `max_lag` plans or more wait to be projected: the
    /// queue is bounded, and under a load the projection cannot follow, acknowledgements
    /// slow down to its pace instead of the backlog (and a read's wait) growing.
    pub(crate) async fn room(&self, max_lag: usize) {
        let deadline = Instant::now() + ROOM_WAIT;
        while self.backlog() >= max_lag && Instant::now() < deadline {
            let projected = self.room.notified();
            if self.backlog() < max_lag {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), projected).await;
        }
    }
}

/// An `apply` in progress.
pub(crate) struct InFlight(Arc<Load>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which queued plans a projection takes first (migration 16): those of the repositories whose
/// lane is `own` modulo `count`, so that projectors working beside each other seldom update
/// the same rows and wait for each other; any plan once those are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lane {
    own: i32,
    count: i32,
}

impl Lane {
    /// No preference: the oldest plans first (a read settling the queue).
    const ANY: Lane = Lane { own: 0, count: 1 };

    /// The `k`-th of `n` projectors' lane.
    fn of(k: usize, n: usize) -> Lane {
        let count = i32::try_from(n.max(1)).unwrap_or(i32::MAX);
        Lane { own: i32::try_from(k).unwrap_or(0) % count, count }
    }
}

/// A statement prepared once per connection.
async fn prepared(client: &Client, text: &str) -> Result<tokio_postgres::Statement, StorageError> {
    client.prepare_cached(text).await.map_err(|e| classify("preparing a projection statement", e))
}

/// The projector task: projects whatever is queued whenever it is woken (after letting
/// plans gather), and on every tick, until the queue is empty. During a burst it gives way
/// to the deliveries, for at most `max_delay` and while fewer than `max_lag` plans wait;
/// then it works alongside them until the queue is empty. Steady traffic, even heavy, from
/// one sender at a time is projected as it comes, at most `gather` or one full batch
/// behind. While it works and two full batches or more are queued, `projectors - 1`
/// helpers project beside it, each in its own transaction: one projection runs on one
/// core of the database, and a load that outruns it would otherwise be held to its pace.
/// Ends when every writer (holding the other ends of `wake`) has ended.
pub(crate) async fn projector(
    pool: Pool,
    sql: Arc<Sql>,
    load: Arc<Load>,
    pace: Pace,
    mut wake: mpsc::Receiver<()>,
) {
    let Pace { max_lag, max_delay, gather, projectors } = pace;
    loop {
        // Woken, or a tick; `Ok(None)`: the writers are gone, and so is the store.
        match tokio::time::timeout(TICK, wake.recv()).await {
            Ok(None) => return,
            Ok(Some(())) => {
                // Each projection slows the acknowledgements that commit while it runs, and
                // costs less per plan the more plans it takes: fewer and larger is better
                // for both.
                let until = Instant::now() + gather;
                while load.backlog() < BATCH as usize && Instant::now() < until {
                    tokio::time::sleep(GATHER_LOOK.min(until.saturating_duration_since(Instant::now())))
                        .await;
                }
            }
            Err(_) => {}
        }
        let drain = Drain::default();
        let lead = async {
            let _ended = Ended(&drain);
            let client = pool.get().await.map_err(pool_error)?;
            let mut giving_way: Option<Instant> = None;
            let mut catching_up = false;
            let mut mark = 0;
            loop {
                if !catching_up && load.burst() {
                    let since = *giving_way.get_or_insert_with(Instant::now);
                    if since.elapsed() < max_delay && load.backlog() < max_lag {
                        drain.working.store(false, Ordering::Relaxed);
                        tokio::time::sleep(GIVE_WAY).await;
                        continue;
                    }
                    catching_up = true;
                }
                drain.working.store(true, Ordering::Relaxed);
                match step(&client, &sql, &mut mark, i64::MAX, Lane::of(0, projectors)).await? {
                    0 => {
                        load.projected(usize::MAX);
                        return Ok::<_, StorageError>(());
                    }
                    n => projected(&client, &sql, &load, n).await,
                }
            }
        };
        let helpers = (1..projectors).map(|k| help(&pool, &sql, &load, &drain, Lane::of(k, projectors)));
        let (drained, _) = tokio::join!(lead, futures_util::future::join_all(helpers));
        // The queue keeps everything; the next wake or tick tries again.
        if drained.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the projector tells its helpers while it drains the queue.
#[derive(Debug)]
struct Drain {
    /// Still draining: the helpers stop when it ends.
    draining: AtomicBool,
    /// Projecting, not giving way to a burst: the helpers give way when it does.
    working: AtomicBool,
}

impl Default for Drain {
    fn default() -> Self {
        Drain { draining: AtomicBool::new(true), working: AtomicBool::new(false) }
    }
}

/// Ends a drain however the projector leaves it (done, or failed).
struct Ended<'a>(&'a Drain);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.draining.store(false, Ordering::Relaxed);
    }
}

/// A helper of the projector for one drain: takes batches beside it while it works and the
/// queue is at least [`HELP_AT`] behind. Its connection is taken only once there is work,
/// and only from a pool with [`room_to_help`]; it is given back after a batch when another
/// task waits for one. A failure ends only the helper: the projector drains the rest.
async fn help(pool: &Pool, sql: &Sql, load: &Load, drain: &Drain, lane: Lane) -> Result<(), StorageError> {
    let mut client = None;
    let mut mark = 0;
    while drain.draining.load(Ordering::Relaxed) {
        if !drain.working.load(Ordering::Relaxed) || load.backlog() < HELP_AT {
            tokio::time::sleep(GATHER_LOOK).await;
            continue;
        }
        let taken = match &client {
            Some(c) => c,
            None if room_to_help(pool.status()) => client.insert(pool.get().await.map_err(pool_error)?),
            None => {
                tokio::time::sleep(GATHER_LOOK).await;
                continue;
            }
        };
        match step(taken, sql, &mut mark, i64::MAX, lane).await? {
            // What is queued is taken by the others.
            0 => tokio::time::sleep(GATHER_LOOK).await,
            n => projected(taken, sql, load, n).await,
        }
        if pool.status().waiting > 0 {
            client = None;
        }
    }
    Ok(())
}

/// After a batch of `n` plans left the queue: tells the writers waiting for room, and
/// vacuums the queue every [`VACUUM_EVERY`] plans (`SKIP_LOCKED`: a vacuum already running,
/// by another replica or by autovacuum, does the same). A failed vacuum is left to
/// autovacuum, which vacuums the queue anyway, only less often: the projection does not
/// depend on it.
async fn projected(client: &Client, sql: &Sql, load: &Load, n: i64) {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    load.projected(n);
    if load.vacuum_due(n) {
        let _ = client.batch_execute(&sql.vacuum_queue).await;
    }
}

/// Whether a helper may take a connection: nobody waits for one, and another stays free
/// (open or not yet opened) after it. Helpers only speed the projection up; the writers,
/// whose callers wait for their acknowledgements, and the reads come first.
fn room_to_help(pool: deadpool_postgres::Status) -> bool {
    pool.waiting == 0 && pool.available + pool.max_size.saturating_sub(pool.size) >= 2
}

/// Projects every plan queued before this call, on `client`: what nobody else is projecting
/// here, then waits for the transactions projecting the rest.
pub(crate) async fn settle(client: &Client, sql: &Sql) -> Result<(), StorageError> {
    let upto: Option<i64> = client
        .query_one(&prepared(client, &sql.pending_last).await?, &[])
        .await
        .map_err(|e| classify("reading the queue", e))?
        .get(0);
    let Some(upto) = upto else { return Ok(()) };
    let mut mark = 0;
    loop {
        while step(client, sql, &mut mark, upto, Lane::ANY).await? > 0 {}
        // Waits for the rows other transactions hold; counts those still queued after them.
        let left: i64 = client
            .query_one(&prepared(client, &sql.pending_wait).await?, &[&upto])
            .await
            .map_err(|e| classify("waiting for the projection", e))?
            .get(0);
        if left == 0 {
            return Ok(());
        }
    }
}

/// Projects one batch of the plans queued up to `upto`, from `mark` on (migration 14), those
/// of `lane` first (migration 16), and
/// moves `mark` past what it took; returns how many left the queue (projected or
/// quarantined), 0 only when a pass from the start found none free to take. Starting above
/// what was taken spares each batch the entries of the rows projected before it, which a
/// long snapshot elsewhere keeps from being marked dead; a writer may still commit a row
/// below the mark after it moved, so the mark goes back to the start before anything is
/// reported drained.
async fn step(
    client: &Client,
    sql: &Sql,
    mark: &mut i64,
    upto: i64,
    lane: Lane,
) -> Result<i64, StorageError> {
    let project = prepared(client, &sql.project).await?;
    let mut attempt = 0;
    loop {
        match client.query_one(&project, &[&BATCH, &*mark, &upto, &lane.count, &lane.own]).await {
            Ok(row) => {
                let (taken, last): (i32, Option<i64>) = (row.get(0), row.get(1));
                if let Some(n) = after(mark, taken, last) {
                    return Ok(n);
                }
                // Otherwise from the start again, at once.
            }
            Err(e) => {
                let e = classify("projecting queued events", e);
                if !e.is_transient() {
                    return one_by_one(client, sql, upto).await;
                }
                attempt += 1;
                if attempt == 5 {
                    return Err(e);
                }
                // A deadlock or serialization failure between two projectors: run again,
                // after a wait that grows.
                tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
            }
        }
    }
}

/// Where a batch leaves the mark: past the last row taken, or back at the start when none
/// was found above it. `Some(taken)` to report, `None` to take again from the start.
fn after(mark: &mut i64, taken: i32, last: Option<i64>) -> Option<i64> {
    match last {
        Some(last) if taken > 0 => {
            *mark = last.saturating_add(1);
            Some(i64::from(taken))
        }
        _ if *mark > 0 => {
            *mark = 0;
            None
        }
        _ => Some(0),
    }
}

/// After a batch failed on its data: the same events one at a time, quarantining those the
/// database refuses alone.
async fn one_by_one(client: &Client, sql: &Sql, upto: i64) -> Result<i64, StorageError> {
    let rows = client
        .query(&prepared(client, &sql.pending_oldest).await?, &[&upto, &i64::from(BATCH)])
        .await
        .map_err(|e| classify("reading the queue", e))?;
    let mut done = 0;
    for row in rows {
        let (seq, id): (i64, String) = (row.get(0), row.get(1));
        match client.query_one(&prepared(client, &sql.project_one).await?, &[&seq]).await {
            Ok(_) => done += 1,
            Err(e) => {
                let e = classify("projecting a queued event", e);
                if e.is_transient() {
                    return Err(e);
                }
                let reason = format!("event {id}: the store refused it: {}", e.chain());
                client
                    .execute(&prepared(client, &sql.pending_quarantine).await?, &[&seq, &reason])
                    .await
                    .map_err(|e| classify("quarantining a queued event", e))?;
                done += 1;
            }
        }
    }
    Ok(done)
}

/// Whether JSON text holds a NUL character in any string. PostgreSQL text cannot: an inline
/// apply is refused at once for it, and queued commands are refused the same way, before
/// they are acknowledged, rather than quarantined later.
pub(crate) fn holds_nul(json: &str) -> bool {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'u') && b.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{Load, VACUUM_EVERY, after, holds_nul, room_to_help};

    #[test]
    fn the_mark_moves_past_each_batch_and_nothing_is_drained_before_a_pass_from_the_start() {
        let mut mark = 0;
        assert_eq!(after(&mut mark, 512, Some(900)), Some(512));
        assert_eq!(mark, 901);
        assert_eq!(after(&mut mark, 3, Some(903)), Some(3));
        assert_eq!(mark, 904);
        // Nothing above the mark: a row below it may have committed since; look again.
        assert_eq!(after(&mut mark, 0, None), None);
        assert_eq!(mark, 0);
        assert_eq!(after(&mut mark, 1, Some(17)), Some(1), "a late row below the old mark");
        assert_eq!(mark, 18);
        assert_eq!(after(&mut mark, 0, None), None);
        assert_eq!(after(&mut mark, 0, None), Some(0), "drained only after a pass from the start");
        assert_eq!(mark, 0);
    }

    #[test]
    fn a_helper_leaves_a_connection_free_and_never_jumps_the_queue() {
        let status = |max_size, size, available, waiting| deadpool_postgres::Status {
            max_size,
            size,
            available,
            waiting,
        };
        assert!(room_to_help(status(16, 2, 0, 0)), "14 not yet opened");
        assert!(room_to_help(status(4, 4, 2, 0)), "two open and free");
        assert!(room_to_help(status(4, 3, 1, 0)), "one open and free, one not yet opened");
        assert!(!room_to_help(status(4, 3, 0, 0)), "only the last one");
        assert!(!room_to_help(status(4, 4, 1, 0)), "only the last one, open");
        assert!(!room_to_help(status(16, 2, 0, 1)), "someone waits");
    }

    #[test]
    fn the_queue_is_vacuumed_once_per_twenty_thousand_plans_taken() {
        let load = Load::default();
        assert!(!load.vacuum_due(VACUUM_EVERY - 1));
        assert!(load.vacuum_due(512), "past the count");
        assert!(!load.vacuum_due(VACUUM_EVERY - 1), "counted again from nothing");
        assert!(load.vacuum_due(1));
    }

    #[test]
    fn a_nul_is_found_only_where_json_escapes_one() {
        assert!(holds_nul(r#"{"a":"x\u0000y"}"#));
        assert!(holds_nul(r#"{"a":"\\\u0000"}"#));
        assert!(!holds_nul(r#"{"a":"\\u0000"}"#), "an escaped backslash, then text");
        assert!(!holds_nul(r#"{"a":"\u0001"}"#));
        assert!(!holds_nul(r#"{"a":"\\"}"#));
        assert!(!holds_nul("\\"));
    }
}
