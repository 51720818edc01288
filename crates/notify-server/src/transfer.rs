//! Moving everything a store holds into another store: `export` writes the raw event log and
//! the quarantine as NDJSON, `import` replays that file into any store.
//!
//! Only raw events travel. The importing side parses and translates each one exactly as the
//! webhook does, and the projection is order-independent, so the target answers every query
//! as the source did (under the same policy) whatever the backends. That is also why an
//! import can be interrupted and simply run again: events already there are duplicates.
//!
//! The format, one JSON object per line:
//!
//! ```text
//! {"type":"header","format":"registry-notify-export","version":1}
//! {"type":"event","registry":"registry.example.com","raw":"{\n  \"id\": \"…\", …}"}
//! {"type":"quarantine","key":"id:…","registry":null,"received_at":"…","reason":"…","raw":"…"}
//! ```
//!
//! `raw` is the event's JSON text byte for byte as the registry sent it (registries indent
//! it, so it travels as a string); `registry` is the name the event was stored under, which a
//! path like `/events/{registry}` may have chosen rather than the event itself.

use std::io::{BufRead, Write};

use futures_util::StreamExt as _;
use notify_core::query::{EventQuery, QuarantineRecord};
use notify_core::{
    ApplyOutcome, PageRequest, Policy, Storage, StorageError, Timestamp, parse_event, translate,
};
use serde::{Deserialize, Serialize};

/// The `format` of the header line.
pub const FORMAT: &str = "registry-notify-export";
/// The version of the format this build writes and reads.
pub const VERSION: u32 = 1;

// Events replayed at once: enough for a database's group commit to pay off, few enough to keep
// memory flat.
const IMPORT_CONCURRENCY: usize = 32;
const IMPORT_BATCH: usize = 512;
const EXPORT_PAGE: u32 = 1000;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// The first line: what the file is.
    Header {
        /// Always [`FORMAT`].
        format: String,
        /// The format version, [`VERSION`].
        version: u32,
    },
    /// An event of the log.
    Event {
        /// The registry name the event was stored under.
        registry: String,
        /// The event's JSON text as received.
        raw: String,
    },
    /// An event the model could not hold, with its reason.
    Quarantine(QuarantineRecord),
}

/// Why an export or import stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Reading or writing the file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed (an import can be run again: what is stored is not repeated).
    #[error("store: {0}")]
    Store(#[from] StorageError),
    /// A line is not part of an export.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Events of the log.
    pub events: u64,
    /// Quarantine records.
    pub quarantined: u64,
    /// Log entries without raw JSON (stored by an embedding program, not by a registry):
    /// they cannot be replayed and are left out.
    pub without_raw: u64,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Events stored for the first time.
    pub applied: u64,
    /// Events the store already had.
    pub duplicate: u64,
    /// Events stored in the quarantine (records of the file, and events that did not parse
    /// or translate here).
    pub quarantined: u64,
}

/// Writes the store's event log (newest first, as the log reads; the order means nothing to
/// an import) and quarantine to `out`, one page at a time, so memory stays flat however
/// large the log.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = notify_core::MemoryStore::new();
/// let mut out = Vec::new();
/// let summary = notify_server::transfer::export(&store, &mut out).await.unwrap();
/// assert_eq!(summary.events, 0);
/// assert!(String::from_utf8(out).unwrap().starts_with(r#"{"type":"header""#));
/// # });
/// ```
pub async fn export(store: &dyn Storage, out: &mut dyn Write) -> Result<ExportSummary, TransferError> {
    let mut summary = ExportSummary::default();
    write_line(out, &Line::Header { format: FORMAT.to_owned(), version: VERSION })?;
    let mut page = PageRequest { after: None, limit: EXPORT_PAGE };
    loop {
        let batch = store.events(&EventQuery { page: page.clone(), ..EventQuery::default() }).await?;
        for entry in batch.items {
            if entry.raw.is_empty() {
                summary.without_raw += 1;
            } else {
                write_line(out, &Line::Event { registry: entry.registry, raw: entry.raw })?;
                summary.events += 1;
            }
        }
        match batch.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let mut page = PageRequest { after: None, limit: EXPORT_PAGE };
    loop {
        let batch = store.quarantined(&page).await?;
        for record in batch.items {
            write_line(out, &Line::Quarantine(record))?;
            summary.quarantined += 1;
        }
        match batch.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    out.flush()?;
    Ok(summary)
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Replays an export into `store`, translating events with `policy` (registry names come
/// from the file). Stops at the first line that is not part of an export, or when the store
/// fails; running it again is safe.
pub async fn import(
    store: &dyn Storage,
    policy: &Policy,
    input: &mut dyn BufRead,
) -> Result<ImportSummary, TransferError> {
    let mut summary = ImportSummary::default();
    let mut number = 0usize;
    let mut text = String::new();
    let mut header_seen = false;
    loop {
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        while batch.len() < IMPORT_BATCH {
            text.clear();
            if input.read_line(&mut text)? == 0 {
                break;
            }
            number += 1;
            if text.trim().is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(&text)
                .map_err(|e| TransferError::Line { line: number, message: e.to_string() })?;
            match line {
                Line::Header { format, version } => {
                    if format != FORMAT || version != VERSION {
                        return Err(TransferError::Line {
                            line: number,
                            message: format!(
                                "a {format} file of version {version}; this build reads {FORMAT} version {VERSION}"
                            ),
                        });
                    }
                    header_seen = true;
                }
                _ if !header_seen => {
                    return Err(TransferError::Line {
                        line: number,
                        message: "not an export: the first line must be the header".to_owned(),
                    });
                }
                line => batch.push(line),
            }
        }
        if batch.is_empty() {
            break;
        }
        let outcomes: Vec<Result<Outcome, StorageError>> = futures_util::stream::iter(batch)
            .map(|line| replay(store, policy, line))
            .buffer_unordered(IMPORT_CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Outcome::Applied => summary.applied += 1,
                Outcome::Duplicate => summary.duplicate += 1,
                Outcome::Quarantined => summary.quarantined += 1,
            }
        }
    }
    if !header_seen {
        return Err(TransferError::Line { line: number, message: "empty: no header line".to_owned() });
    }
    Ok(summary)
}

enum Outcome {
    Applied,
    Duplicate,
    Quarantined,
}

async fn replay(store: &dyn Storage, policy: &Policy, line: Line) -> Result<Outcome, StorageError> {
    let (registry, raw) = match line {
        Line::Event { registry, raw } => (registry, raw),
        Line::Quarantine(record) => {
            store.quarantine(&record).await?;
            return Ok(Outcome::Quarantined);
        }
        Line::Header { .. } => unreachable!("headers are handled by the reader"),
    };
    let now = Timestamp::from_datetime(&chrono::Utc::now());
    let policy = Policy { registry: Some(registry.clone()), ..policy.clone() };
    let event = match parse_event(0, &raw) {
        Ok(event) => event,
        Err(e) => {
            let record =
                QuarantineRecord::new(e.id.as_deref(), raw, format!("import: {e}"), Some(registry), now);
            store.quarantine(&record).await?;
            return Ok(Outcome::Quarantined);
        }
    };
    let failure = match translate(&event, &policy) {
        Ok(plan) => match store.apply(&plan).await {
            Ok(ApplyOutcome::Applied) => return Ok(Outcome::Applied),
            Ok(ApplyOutcome::Duplicate) => return Ok(Outcome::Duplicate),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => format!("the store refused it: {e}"),
        },
        Err(e) => e.to_string(),
    };
    let record = QuarantineRecord::new(
        Some(&event.id),
        raw,
        format!("import: event {}: {failure}", event.id),
        Some(registry),
        now,
    );
    store.quarantine(&record).await?;
    Ok(Outcome::Quarantined)
}
