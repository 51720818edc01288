//! The plans PostgreSQL chooses for the reads whose cost must not grow with the log: checked
//! with `EXPLAIN` on a log of busy digests, under the generic plan a prepared
//! statement runs from its sixth call on.

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
    let pg = support::fresh_store_with(1, Projection::Inline).await;
    let s = pg.schema().to_owned();
    let client = pg.pool().get().await.expect("a connection");
    // 40,000 pulls of 20 layers, 2,000 each: every digest is busy, so that the plan is
    // chosen where it matters, and cheaper plans for a few rows do not stand in for it.
    client
        .batch_execute(&format!(
            "INSERT INTO \"{s}\".events (id, at, action, registry, repository, digest, kind, counted, raw)
             SELECT 'e' || i, timestamptz '2026-01-01' + i * interval '1 second', 'pull', 'r', 'team/a',
                    'sha256:' || lpad(to_hex(i % 20), 64, 'a'),
                    'blob', false, '{{}}'
             FROM generate_series(1, 40000) AS i;
             ANALYZE \"{s}\".events;"
        ))
        .await
        .expect("the log");
    drop(client);
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
    client
        .batch_execute(&format!("SET plan_cache_mode = force_generic_plan; PREPARE page AS {statement};"))
        .await
        .expect("the store's statement, prepared again");
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
    let pg = support::fresh_store_with(1, Projection::Inline).await;
    let s = pg.schema().to_owned();
    // 20 digests, each held by the same 2,000 repositories and referenced by 2,000 manifests.
    let client = pg.pool().get().await.expect("a connection");
    client
        .batch_execute(&format!(
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
        ))
        .await
        .expect("the links and references");
    drop(client);
    let busy: Digest = format!("sha256:{}7", "a".repeat(63)).parse().expect("a digest");
    let first = PageRequest::first(100);
    let repositories = pg.digest_repositories(&busy, &first).await.expect("the repositories");
    let referrers = pg.digest_referrers(&busy, &first).await.expect("the referrers");
    assert_eq!((repositories.items.len(), referrers.items.len()), (100, 100));

    let client = pg.pool().get().await.expect("the store's connection");
    let links = prepared(&client, &[&format!("FROM \"{s}\".links l")]).await;
    let references = prepared(&client, &[&format!("FROM \"{s}\".content_references c WHERE")]).await;
    client
        .batch_execute(&format!(
            "SET plan_cache_mode = force_generic_plan;
             PREPARE repositories AS {links};
             PREPARE referrers AS {references};"
        ))
        .await
        .expect("the store's statements, prepared again");
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
