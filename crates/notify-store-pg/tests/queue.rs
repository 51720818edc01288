//! The deferred projection's queue as vacuum leaves it. A test binary of its own: the vacuum
//! removes the queue's dead rows only when no other transaction of the database could still
//! see them, which the tests of a busy binary beside it would.

mod support;

use notify_store_pg::Projection;

/// The queue's vacuum (migration 22) leaves the pages of a drained queue: truncating them
/// takes a lock every acknowledgement conflicts with, and the projector running the vacuum
/// waits for it for up to five seconds.
#[tokio::test]
async fn a_vacuum_of_the_drained_queue_keeps_its_pages() {
    let pg = support::fresh_store_with(1, Projection::Deferred).await;
    let s = pg.schema().to_owned();
    let client = pg.pool().get().await.expect("a connection");
    client
        .batch_execute(&format!(
            "INSERT INTO \"{s}\".pending (id, lane, commands)
             SELECT 'e' || i, i, repeat('[]', 100) FROM generate_series(1, 4000) AS i;
             DELETE FROM \"{s}\".pending;"
        ))
        .await
        .expect("a queue filled and drained");
    let filled = pg.queue_pages().await;
    client.batch_execute(&format!("VACUUM \"{s}\".pending")).await.expect("the queue vacuumed");
    let vacuumed = pg.queue_pages().await;
    eprintln!("the queue's pages: {filled} filled, {vacuumed} after its vacuum");
    assert!(filled > 10, "the queue took {filled} pages");
    assert_eq!(vacuumed, filled, "the drained queue was truncated");
}
