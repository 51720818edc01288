//! The plans PostgreSQL chooses for the reads whose cost must not grow with the log, checked
//! with `EXPLAIN` under the generic plan a prepared statement runs from its sixth call on,
//! and for the projection's take from the queue, checked by what a batch takes.

mod support;

use notify_core::query::EventQuery;
use notify_core::{Digest, PageRequest, Storage};
use notify_store_pg::Projection;

/// A page of a digest's events newest first (`read.rs`'s filter by digest, migration 18) is
/// a range of the index by digest read in order and stopped at the page's end: no sort of
/// the digest's rows, which for a busy base layer are tens of thousands. Checked on the
/// statement the store prepares for a page after the first.
#[tokio::test]
async fn a_page_of_a_busy_digests_events_is_read_in_index_order_under_a_generic_plan() {
    // 40,000 pulls of 20 layers, 2,000 each: every digest is busy, so that the plan is
    // chosen where it matters, and cheaper plans for a few rows do not stand in for it.
    let (pg, s) = store_holding(|s| {
        vec![format!(
            "INSERT INTO \"{s}\".events (id, at, action, registry, repository, digest, kind, counted, raw)
             SELECT 'e' || i, timestamptz '2026-01-01' + i * interval '1 second', 'pull', 'r', 'team/a',
                    'sha256:' || lpad(to_hex(i % 20), 64, 'a'),
                    'blob', false, '{{}}'
             FROM generate_series(1, 40000) AS i;
             ANALYZE \"{s}\".events;"
        )]
    })
    .await;
    let busy: Digest = format!("sha256:{}7", "a".repeat(63)).parse().expect("a digest");
    let query = |page| EventQuery { digest: Some(busy.clone()), page, ..EventQuery::default() };
    let first = pg.events(&query(PageRequest::first(50))).await.expect("the first page");
    let second = pg
        .events(&query(PageRequest { after: first.next.clone(), limit: 50 }))
        .await
        .expect("the second page");
    assert_eq!(second.items.len(), 50);

    let client = pg.pool().get().await.expect("the store's connection");
    let statement = prepared(&client, &[&format!("FROM \"{s}\".events"), "(at, id) <"]).await;
    prepare_generic(&client, &[("page", &statement)]).await;
    let plan = explain(&client, &format!("EXECUTE page('{busy}', '2027-01-01', 'z', 51)")).await;
    assert!(plan.contains("events_digest_hash"), "not the index by digest:\n{plan}");
    assert!(!plan.contains("Sort"), "the digest's rows are sorted:\n{plan}");
}

/// A page of the repositories and one of the referrers of a busy digest (migration 19) are
/// ranges of the indexes keyed on the digest's hash, read in order: checked on the very
/// statements the store prepares, taken from `pg_prepared_statements` of its one connection.
#[tokio::test]
async fn the_pages_of_a_busy_digests_repositories_and_referrers_are_read_in_index_order_under_a_generic_plan()
{
    // 20 digests, each held by the same 2,000 repositories and referenced by 2,000 manifests.
    let (pg, s) = store_holding(|s| {
        vec![format!(
            "INSERT INTO \"{s}\".repositories (registry, name)
             SELECT 'r', 'team/' || lpad(i::text, 4, '0') FROM generate_series(1, 2000) AS i;
             INSERT INTO \"{s}\".links (repo_id, registry, name, digest)
             SELECT r.id, r.registry, r.name, 'sha256:' || lpad(to_hex(d), 64, 'a')
             FROM \"{s}\".repositories r, generate_series(0, 19) AS d;
             INSERT INTO \"{s}\".content_references (parent, child, kind, size)
             SELECT 'sha256:' || lpad(to_hex(p), 64, '0'), 'sha256:' || lpad(to_hex(d), 64, 'a'), 'layer', 1
             FROM generate_series(1, 2000) AS p, generate_series(0, 19) AS d;
             ANALYZE \"{s}\".links;
             ANALYZE \"{s}\".content_references;"
        )]
    })
    .await;
    let busy: Digest = format!("sha256:{}7", "a".repeat(63)).parse().expect("a digest");
    let first = PageRequest::first(100);
    let repositories = pg.digest_repositories(&busy, &first).await.expect("the repositories");
    let referrers = pg.digest_referrers(&busy, &first).await.expect("the referrers");
    assert_eq!((repositories.items.len(), referrers.items.len()), (100, 100));

    let client = pg.pool().get().await.expect("the store's connection");
    let links = prepared(&client, &[&format!("FROM \"{s}\".links l")]).await;
    let references = prepared(&client, &[&format!("FROM \"{s}\".content_references c WHERE")]).await;
    prepare_generic(&client, &[("repositories", &links), ("referrers", &references)]).await;
    let after = repositories.items[99].repository.to_string();
    for (query, index) in [
        (format!("EXECUTE repositories('{busy}', 'r', '{after}', 101)"), "links_digest_hash"),
        (
            format!("EXECUTE referrers('{busy}', '{}', 'layer', 101)", referrers.items[99].digest),
            "content_references_referrers_hash",
        ),
    ] {
        let plan = explain(&client, &query).await;
        assert!(plan.contains(index), "not {index}:\n{plan}");
        assert!(!plan.contains("Sort"), "the digest's rows are sorted:\n{plan}");
    }
}

/// A page of a repository's tags at an instant and a page of a tag's history (migration 20)
/// read the history from its primary key alone, where one repository's entries lie
/// together, and not from the table's pages, where they lie among every other
/// repository's: checked on the statements the store prepares.
#[tokio::test]
async fn a_tags_history_is_read_from_its_index_alone_under_a_generic_plan() {
    // 500 tags of one repository, each set four times; the history vacuumed, as autovacuum
    // does a table only ever inserted into, so that its pages are all-visible.
    let (pg, s) = store_holding(|s| {
        vec![
            format!(
                "INSERT INTO \"{s}\".repositories (registry, name) VALUES ('r', 'team/a');
                 INSERT INTO \"{s}\".tag_history (repo_id, tag, at, event_id, digest, actor)
                 SELECT r.id, 't' || lpad(t::text, 3, '0'), timestamptz '2026-01-01' + (t * 4 + n) * interval '1 minute',
                        'e' || t || '-' || n, 'sha256:' || lpad(to_hex(n), 64, 'a'), 'alice'
                 FROM \"{s}\".repositories r, generate_series(1, 500) AS t, generate_series(0, 3) AS n;
                 INSERT INTO \"{s}\".tags (repo_id, tag, set_at, set_event, digest)
                 SELECT DISTINCT ON (repo_id, tag) repo_id, tag, at, event_id, digest
                 FROM \"{s}\".tag_history ORDER BY repo_id, tag, at DESC, event_id DESC;
                 ANALYZE \"{s}\".tags;"
            ),
            format!("VACUUM (ANALYZE) \"{s}\".tag_history"),
        ]
    })
    .await;
    let repo = notify_core::RepoRef { registry: "r".into(), repository: "team/a".parse().expect("a name") };
    let tag = "t250".parse().expect("a tag");
    // After the 250th tag's first set: tags t001–t250 pointed at something then.
    let instant: notify_core::Timestamp = "2026-01-01T16:40:00Z".parse().expect("an instant");
    let at = pg.tags_at(&repo, instant, &PageRequest::first(100)).await.expect("the tags at an instant");
    let history = pg.tag_history(&repo, &tag, &PageRequest::first(10)).await.expect("a tag's history");
    assert_eq!((at.items.len(), history.items.len()), (100, 4));

    let client = pg.pool().get().await.expect("the store's connection");
    let tags_at = prepared(&client, &[&format!("FROM \"{s}\".tags t CROSS JOIN LATERAL")]).await;
    let page = prepared(&client, &[&format!("FROM \"{s}\".tag_history h")]).await;
    prepare_generic(&client, &[("tags_at", &tags_at), ("page", &page)]).await;
    for query in [
        "EXECUTE tags_at('r', 'team/a', '2026-01-01T16:40:00Z', 101)",
        "EXECUTE page('r', 'team/a', 't250', 11)",
    ] {
        let plan = explain(&client, query).await;
        assert!(
            plan.contains("Index Only Scan Backward using tag_history_pkey"),
            "not the key alone:\n{plan}"
        );
        let from_table = plan.lines().any(|l| l.contains("Index Scan") && l.contains("tag_history"));
        assert!(!from_table, "the history's table is read:\n{plan}");
    }
}

/// A batch of the projection (`project_lane`, migration 21) takes the oldest `n` queued rows
/// of its lane and no more, under a generic plan made on a queue a vacuum found empty and
/// truncated, as it did a drained queue before migration 22 (and a `VACUUM (TRUNCATE)` by
/// hand still does). With the queue outside a semi join and the locked subquery run again
/// for each of its rows, the batch took every row of its lane, in time growing with the
/// queue times the batch.
#[tokio::test]
async fn a_projection_batch_takes_its_rows_once_under_a_plan_made_on_an_empty_queue() {
    // The vacuum records the queue as holding no rows on no pages; a queue never vacuumed is
    // assumed to hold some, and planned for as such.
    let (pg, s) = store_holding(|s| vec![format!("VACUUM (TRUNCATE) \"{s}\".pending")]).await;
    assert_eq!(pg.queue_pages().await, 0, "the queue's file is not empty");
    let client = pg.pool().get().await.expect("the store's connection");
    // Lane 0 of 2: the batch is taken from the even lanes' rows.
    let take = format!("SELECT taken FROM \"{s}\".project_lane(512, 0, 9223372036854775807, 2, 0)");
    let batch = || async { client.query_one(&take, &[]).await.expect("a batch").get::<_, i32>(0) };
    // The first call makes the plan, on the empty queue.
    assert_eq!(batch().await, 0);
    client
        .batch_execute(&format!(
            "INSERT INTO \"{s}\".pending (id, lane, commands)
             SELECT 'e' || i, i, '[]' FROM generate_series(1, 4000) AS i"
        ))
        .await
        .expect("4,000 queued rows");
    assert_eq!(batch().await, 512, "not one batch of 512 of the 2,000 rows of lane 0");
    // Lane 0 holds e2, e4, … e4000: e1026 is the oldest left after the first 512.
    let left = client
        .query_one(
            &format!("SELECT count(*), min(substr(id, 2)::integer) FROM \"{s}\".pending WHERE lane % 2 = 0"),
            &[],
        )
        .await
        .expect("the queue");
    let left: (i64, i32) = (left.get(0), left.get(1));
    assert_eq!(left, (1488, 1026), "not the oldest 512 rows of lane 0 taken");
}

/// A store of its own, holding the rows `batches` writes: each batch one implicit
/// transaction (a `VACUUM` must be a batch of its own). With the store's schema name.
async fn store_holding(batches: impl FnOnce(&str) -> Vec<String>) -> (support::TestStore, String) {
    let pg = support::fresh_store_with(1, Projection::Inline).await;
    let s = pg.schema().to_owned();
    let client = pg.pool().get().await.expect("a connection");
    for batch in batches(&s) {
        client.batch_execute(&batch).await.expect("the test's rows");
    }
    drop(client);
    (pg, s)
}

/// The text of the one statement prepared on `client` (by the store, whose connection it
/// is) that holds every one of `parts`.
async fn prepared(client: &tokio_postgres::Client, parts: &[&str]) -> String {
    let statements: Vec<String> = client
        .query("SELECT statement FROM pg_prepared_statements", &[])
        .await
        .expect("the prepared statements")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let found: Vec<&String> = statements.iter().filter(|q| parts.iter().all(|p| q.contains(p))).collect();
    assert_eq!(found.len(), 1, "not one statement with {parts:?} among {statements:#?}");
    found[0].clone()
}

/// Prepares each `(name, statement)` again on `client`, under the generic plan a prepared
/// statement may run from its sixth call on.
async fn prepare_generic(client: &tokio_postgres::Client, statements: &[(&str, &str)]) {
    let mut batch = String::from("SET plan_cache_mode = force_generic_plan;");
    for (name, statement) in statements {
        batch.push_str(&format!(" PREPARE {name} AS {statement};"));
    }
    client.batch_execute(&batch).await.expect("the store's statements, prepared again");
}

/// The plan of `statement`, printed for the test's output.
async fn explain(client: &tokio_postgres::Client, statement: &str) -> String {
    let plan: Vec<String> = client
        .simple_query(&format!("EXPLAIN {statement}"))
        .await
        .expect("the plan")
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    let plan = plan.join("\n");
    eprintln!("{statement}\n{plan}");
    plan
}
