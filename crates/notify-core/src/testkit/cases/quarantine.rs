//! The quarantine: events the model cannot hold, kept verbatim.

use super::{check_paging, quarantine_of, some};
use crate::query::QuarantineRecord;
use crate::testkit::builder::time;
use crate::{ApplyOutcome, Storage};

async fn keep(store: &dyn Storage, record: &QuarantineRecord) -> ApplyOutcome {
    store.quarantine(record).await.unwrap_or_else(|e| panic!("quarantine of {} failed: {e}", record.key))
}

/// A record's key is `id:<event id>`, or `sha256:<hex>` of the raw text without an id; a second
/// record with a known key is [`ApplyOutcome::Duplicate`] and the first is kept. The raw text
/// is kept exactly: whitespace, CRLF, escapes (`\u0000` included), deep nesting, non-JSON.
pub async fn quarantine_dedups_by_key_and_keeps_the_raw_text_exactly(store: &dyn Storage) {
    let odd_spacing = "{ \"id\" : \"bad-1\",\n\t\"timestamp\": \"not a time\"   }\n";
    let first = QuarantineRecord::new(
        Some("bad-1"),
        odd_spacing.to_owned(),
        "event 0 (bad-1): timestamp: not an RFC 3339 timestamp".to_owned(),
        some("r.test"),
        time(10),
    );
    assert_eq!(first.key, "id:bad-1", "key of a record with an event id");
    assert_eq!(keep(store, &first).await, ApplyOutcome::Applied, "first record");
    let same_id = QuarantineRecord::new(Some("bad-1"), "{}".to_owned(), "other".to_owned(), None, time(50));
    assert_eq!(keep(store, &same_id).await, ApplyOutcome::Duplicate, "same event id again");

    let not_json =
        QuarantineRecord::new(None, "not json {".to_owned(), "not an object".to_owned(), None, time(20));
    assert_eq!(
        not_json.key, "sha256:c3f07c17117dc1953b6b514cc4e816c00a33fb6cbbe66cbb31e5e22cd1a05fd0",
        "key of a record without an event id"
    );
    assert_eq!(keep(store, &not_json).await, ApplyOutcome::Applied, "record without id");
    let same_text =
        QuarantineRecord::new(Some(""), "not json {".to_owned(), "again".to_owned(), None, time(60));
    assert_eq!(keep(store, &same_text).await, ApplyOutcome::Duplicate, "same raw text again");

    let nul = format!(
        "{{\"id\":\"nul-1\",\"actor\":{{\"name\":\"a\\u0000b\"}},\"deep\":{}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let nul =
        QuarantineRecord::new(Some("nul-1"), nul, "a string contains U+0000".to_owned(), None, time(30));
    assert_eq!(keep(store, &nul).await, ApplyOutcome::Applied, "record with an escaped NUL");
    let crlf = QuarantineRecord::new(
        Some("crlf"),
        "{\r\n  \"id\": \"crlf\" ,\r\n  \"x\": \"é😀\\ud83d\\ude00 ' \\\" --\"\r\n}".to_owned(),
        "reason with 'quotes' and \"double quotes\" and émoji 🦀".to_owned(),
        some("Évil'registry"),
        time(40),
    );
    assert_eq!(keep(store, &crlf).await, ApplyOutcome::Applied, "record with CRLF");

    assert_eq!(quarantine_of(store).await, vec![crlf, nul, not_json, first], "quarantine, newest first");
}

/// The quarantine is listed newest first by receive time, ties by key descending, and pages
/// through the ties with limits 1 and 2.
pub async fn quarantine_lists_newest_first_and_pages(store: &dyn Storage) {
    let record = |id: Option<&str>, raw: &str, seconds: i64| {
        QuarantineRecord::new(id, raw.to_owned(), "test".to_owned(), some("r.test"), time(seconds))
    };
    let k1 = record(Some("k1"), "{\"id\":\"k1\"}", 10);
    let k2 = record(Some("k2"), "{\"id\":\"k2\"}", 30);
    let k3 = record(Some("k3"), "{\"id\":\"k3\"}", 20);
    let k4 = record(Some("k4"), "{\"id\":\"k4\"}", 30);
    let k5 = record(None, "k5: no id here", 30);
    assert_eq!(
        k5.key, "sha256:3d7b6c639ac364e1cdea545bfc8eca851cffc572648046e3750939bd833f3d0e",
        "key of k5"
    );
    for r in [&k1, &k2, &k3, &k4, &k5] {
        assert_eq!(keep(store, r).await, ApplyOutcome::Applied, "{}", r.key);
    }
    check_paging(
        "quarantine",
        &[k5, k4, k2, k3, k1],
        |r: &QuarantineRecord| r.clone(),
        async |p| store.quarantined(&p).await,
    )
    .await;
}
