//! Reading stored documents back into the core's types.
//!
//! Readers are lenient where MongoDB deployments legitimately differ (an integer may come back
//! 32- or 64-bit, an absent optional field and `null` mean the same) and strict about the rest:
//! a document this version cannot read is an [`StorageError::Internal`], never a silent default.

use std::str::FromStr;

use mongodb::bson::{Bson, Document};
use notify_core::command::ContentReference;
use notify_core::query::QuarantineRecord;
use notify_core::{
    Action, ContentKind, Digest, LogEntry, ReferenceKind, Stamp, StorageError, Tag, Timestamp,
};

use crate::error::corrupt;
use crate::liveness::Deleted;

pub(crate) type Result<T> = std::result::Result<T, StorageError>;

/// An optional integer field.
pub(crate) fn int(doc: &Document, key: &str) -> Result<Option<i64>> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int64(v)) => Ok(Some(*v)),
        Some(Bson::Int32(v)) => Ok(Some(i64::from(*v))),
        // Only whole numbers can come from this crate's writes; 2^53 bounds exact doubles.
        Some(Bson::Double(v)) if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 => {
            Ok(Some(*v as i64))
        }
        Some(other) => Err(corrupt(format!("field {key} holds {other}, not an integer"))),
    }
}

/// An integer field that counts from zero when absent.
pub(crate) fn count(doc: &Document, key: &str) -> Result<u64> {
    let v = int(doc, key)?.unwrap_or(0);
    u64::try_from(v).map_err(|_| corrupt(format!("counter {key} is negative: {v}")))
}

/// An optional time field (unix micros).
pub(crate) fn time(doc: &Document, key: &str) -> Result<Option<Timestamp>> {
    Ok(int(doc, key)?.map(Timestamp::from_unix_micros))
}

/// An optional string field.
pub(crate) fn string(doc: &Document, key: &str) -> Result<Option<String>> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(corrupt(format!("field {key} holds {other}, not a string"))),
    }
}

/// A required string field.
pub(crate) fn required(doc: &Document, key: &str) -> Result<String> {
    string(doc, key)?.ok_or_else(|| corrupt(format!("document without {key}: {doc}")))
}

/// A string field parsed into a core type.
pub(crate) fn parsed<T: FromStr>(doc: &Document, key: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let s = required(doc, key)?;
    s.parse().map_err(|e| corrupt(format!("field {key} holds {s:?}: {e}")))
}

/// An optional string field parsed into a core type.
pub(crate) fn parsed_opt<T: FromStr>(doc: &Document, key: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    string(doc, key)?
        .map(|s| s.parse().map_err(|e| corrupt(format!("field {key} holds {s:?}: {e}"))))
        .transpose()
}

/// An optional embedded document.
pub(crate) fn embedded<'a>(doc: &'a Document, key: &str) -> Result<Option<&'a Document>> {
    match doc.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(other) => Err(corrupt(format!("field {key} holds {other}, not a document"))),
    }
}

/// The strings of an array field, sorted byte-wise.
pub(crate) fn sorted_strings(doc: &Document, key: &str) -> Result<Vec<String>> {
    let mut out = match doc.get(key) {
        None | Some(Bson::Null) => Vec::new(),
        Some(Bson::Array(items)) => items
            .iter()
            .map(|b| match b {
                Bson::String(s) => Ok(s.clone()),
                other => Err(corrupt(format!("array {key} holds {other}, not a string"))),
            })
            .collect::<Result<Vec<_>>>()?,
        Some(other) => Err(corrupt(format!("field {key} holds {other}, not an array")))?,
    };
    out.sort();
    out.dedup();
    Ok(out)
}

fn stamp_of(d: &Document) -> Result<Stamp> {
    let at = int(d, "t")?.ok_or_else(|| corrupt(format!("stamp without t: {d}")))?;
    Ok(Stamp { at: Timestamp::from_unix_micros(at), event_id: required(d, "e")? })
}

/// A stamp register `{t, e}`.
pub(crate) fn stamp(doc: &Document, key: &str) -> Result<Option<Stamp>> {
    embedded(doc, key)?.map(stamp_of).transpose()
}

/// A delete register `{t, e, a}`.
pub(crate) fn deleted(doc: &Document, key: &str) -> Result<Option<Deleted>> {
    embedded(doc, key)?.map(|d| Ok(Deleted { stamp: stamp_of(d)?, actor: string(d, "a")? })).transpose()
}

/// A tag register `{t, e, d, a}`.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) stamp: Stamp,
    pub(crate) digest: Option<Digest>,
    pub(crate) actor: Option<String>,
}

/// The tag register of a tag document.
pub(crate) fn head(doc: &Document) -> Result<Option<Head>> {
    embedded(doc, "head")?
        .map(|d| Ok(Head { stamp: stamp_of(d)?, digest: parsed_opt(d, "d")?, actor: string(d, "a")? }))
        .transpose()
}

/// The (kind, media type) of a content document's `kind_key`.
pub(crate) fn kind_and_media_type(doc: &Document) -> Result<(ContentKind, Option<String>)> {
    let key = required(doc, "kind_key")?;
    let (rank, media_type) = match key.split_once(':') {
        Some((rank, m)) => (rank, Some(m.to_owned())),
        None => (key.as_str(), None),
    };
    let kind = match rank {
        "0" => ContentKind::Unknown,
        "1" => ContentKind::Blob,
        "2" => ContentKind::Manifest,
        "3" => ContentKind::Index,
        _ => return Err(corrupt(format!("content kind key {key:?}"))),
    };
    Ok((kind, media_type))
}

/// The references of a content document (its `refs` slots), in the reference store's order:
/// by digest, then kind.
pub(crate) fn references(doc: &Document) -> Result<Vec<ContentReference>> {
    let Some(slots) = embedded(doc, "refs")? else { return Ok(Vec::new()) };
    let mut out = slots
        .values()
        .map(|slot| {
            let Bson::Document(r) = slot else { return Err(corrupt(format!("reference {slot}"))) };
            let kind = required(r, "k")?;
            let size = int(r, "s")?.unwrap_or(0);
            Ok(ContentReference {
                digest: parsed(r, "d")?,
                kind: ReferenceKind::parse(&kind)
                    .ok_or_else(|| corrupt(format!("reference kind {kind:?}")))?,
                media_type: string(r, "m")?,
                size: u64::try_from(size).map_err(|_| corrupt(format!("reference size {size}")))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (&a.digest, a.kind).cmp(&(&b.digest, b.kind)));
    Ok(out)
}

/// A log entry.
pub(crate) fn log_entry(doc: &Document) -> Result<LogEntry> {
    let kind = required(doc, "kind")?;
    Ok(LogEntry {
        id: required(doc, "_id")?,
        timestamp: time(doc, "at")?.ok_or_else(|| corrupt(format!("event without time: {doc}")))?,
        action: Action::from(required(doc, "action")?.as_str()),
        registry: required(doc, "registry")?,
        repository: parsed(doc, "repository")?,
        tag: parsed_opt::<Tag>(doc, "tag")?,
        digest: parsed_opt(doc, "digest")?,
        media_type: string(doc, "media_type")?,
        kind: ContentKind::parse(&kind).ok_or_else(|| corrupt(format!("event kind {kind:?}")))?,
        actor: string(doc, "actor")?,
        client_ip: string(doc, "client_ip")?,
        method: string(doc, "method")?,
        user_agent: string(doc, "user_agent")?,
        source_instance: string(doc, "source_instance")?,
        counted: doc.get_bool("counted").map_err(|_| corrupt(format!("event without counted: {doc}")))?,
        raw: required(doc, "raw")?,
    })
}

/// A quarantined record.
pub(crate) fn quarantine_record(doc: &Document) -> Result<QuarantineRecord> {
    Ok(QuarantineRecord {
        key: required(doc, "_id")?,
        registry: string(doc, "registry")?,
        received_at: time(doc, "received_at")?
            .ok_or_else(|| corrupt(format!("record without time: {doc}")))?,
        reason: required(doc, "reason")?,
        raw: required(doc, "raw")?,
    })
}
