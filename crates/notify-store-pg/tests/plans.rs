//! The plans PostgreSQL chooses for the reads whose cost must not grow with the log: checked
//! with `EXPLAIN` on a log of busy digests, under the generic plan a prepared
//! statement runs from its sixth call on.

mod support;

/// A page of a digest's events newest first (`read.rs`'s filter by digest, migration 18) is
/// a range of the index by digest read in order and stopped at the page's end: no sort of
/// the digest's rows, which for a busy base layer are tens of thousands.
#[tokio::test]
async fn a_page_of_a_busy_digests_events_is_read_in_index_order_under_a_generic_plan() {
    let pg = support::fresh_store().await;
    let s = pg.schema();
    let client = pg.pool().get().await.expect("a connection");
    // 40,000 pulls of 20 layers, 2,000 each: every digest is busy, so that the plan is
    // chosen where it matters, and cheaper plans for a few rows do not stand in for it.
    client
        .batch_execute(&format!(
            "INSERT INTO \"{s}\".events (id, at, action, registry, repository, digest, kind, counted, raw)
             SELECT 'e' || i, timestamptz '2026-01-01' + i * interval '1 second', 'pull', 'r', 'team/a',
                    'sha256:' || lpad(to_hex(i % 20), 64, 'a'),
                    'blob', false, ''
             FROM generate_series(1, 40000) AS i;
             ANALYZE \"{s}\".events;
             SET plan_cache_mode = force_generic_plan;
             PREPARE page(text, timestamptz, text, bigint) AS
                 SELECT id FROM \"{s}\".events
                 WHERE hashtextextended(digest, 0) = hashtextextended($1, 0) AND digest = $1 AND (at, id) < ($2, $3)
                 ORDER BY at DESC, id DESC LIMIT $4;"
        ))
        .await
        .expect("the log");
    let busy = format!("sha256:{}7", "a".repeat(63));
    let plan: Vec<String> = client
        .simple_query(&format!("EXPLAIN EXECUTE page('{busy}', '2027-01-01', 'z', 51)"))
        .await
        .expect("the plan")
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    let plan = plan.join("\n");
    eprintln!("{plan}");
    assert!(plan.contains("events_digest_hash"), "not the index by digest:\n{plan}");
    assert!(!plan.contains("Sort"), "the digest's rows are sorted:\n{plan}");
}
