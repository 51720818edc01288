//! From request bytes to events: the one entry point, [`parse_envelope`].
//!
//! Parsing is two-staged so that one bad event cannot hide the good ones: the envelope is split
//! into the raw JSON text of each event first, then each event is decoded on its own. A body
//! that is not an envelope at all is an [`EnvelopeError`] (only a client that is not a registry
//! sends one); an event the model cannot hold is an [`EventError`] carrying its raw text, which
//! the server quarantines.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Event;

/// The envelope media type registry 2.x sends.
pub const MEDIA_TYPE_V1: &str = "application/vnd.docker.distribution.events.v1+json";
/// The envelope media type registry 3.x sends.
pub const MEDIA_TYPE_V2: &str = "application/vnd.docker.distribution.events.v2+json";

/// Why a body is not a notification envelope. Never returned for a body a registry sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The request had no `Content-Type` header.
    #[error("missing Content-Type: send {MEDIA_TYPE_V1}, {MEDIA_TYPE_V2} or application/json")]
    MissingContentType,
    /// The `Content-Type` is not one of the envelope types.
    #[error("unsupported Content-Type {0:?}: send {MEDIA_TYPE_V1}, {MEDIA_TYPE_V2} or application/json")]
    UnsupportedContentType(String),
    /// The body is not JSON, or not an object with an `events` array.
    #[error("body is not a notification envelope: {message} at line {line} column {column}")]
    Malformed {
        /// What serde_json reported.
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
}

/// Why one event of an envelope cannot be modelled. The server quarantines it with its raw text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "event {index}{}: {}{message}",
    id.as_deref().map(|i| format!(" ({i})")).unwrap_or_default(),
    // The event itself (`.`) goes without saying.
    if path == "." { String::new() } else { format!("{path}: ") }
)]
pub struct EventError {
    /// Position of the event in the envelope.
    pub index: usize,
    /// The event's `id`, when it has a string one.
    pub id: Option<String>,
    /// JSON path of the offending field inside the event, e.g. `target.digest` (`.` for the
    /// event itself).
    pub path: String,
    /// What was wrong.
    pub message: String,
    /// The event object exactly as received.
    pub raw: String,
}

/// A parsed envelope: every event either modelled or explained.
#[derive(Debug, Clone)]
pub struct ParsedEnvelope {
    /// One entry per event, in envelope order.
    pub events: Vec<Result<Event, EventError>>,
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Checks a `Content-Type` header value against the accepted envelope types (parameters such
/// as `charset` are ignored, case is not significant).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), EnvelopeError> {
    let ct = content_type.ok_or(EnvelopeError::MissingContentType)?;
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        MEDIA_TYPE_V1 | MEDIA_TYPE_V2 | "application/json" => Ok(()),
        _ => Err(EnvelopeError::UnsupportedContentType(ct.chars().take(100).collect())),
    }
}

/// Parses a webhook body.
///
/// ```
/// use notify_core::parse_envelope;
/// let body = br#"{"events":[{"id":"e1","timestamp":"2026-01-01T00:00:00Z","action":"pull",
///   "target":{"repository":"library/alpine","digest":"sha256:9658c7ed61c5454aa7b8e98e97b79868df635711ba120a5392ad79a7f7b107b9"}},
///   {"id":"e2","timestamp":"not a time","action":"pull","target":{"repository":"x"}}]}"#;
/// let parsed = parse_envelope(body, Some("application/json")).unwrap();
/// assert!(parsed.events[0].is_ok());
/// assert_eq!(parsed.events[1].as_ref().unwrap_err().path, "timestamp");
/// ```
pub fn parse_envelope(body: &[u8], content_type: Option<&str>) -> Result<ParsedEnvelope, EnvelopeError> {
    check_content_type(content_type)?;
    // serde's derived structs also accept a JSON array of field values; an envelope is an object.
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|i| body[i] != b'{') {
        return Err(EnvelopeError::Malformed {
            message: "an envelope must be a JSON object with an \"events\" array".to_owned(),
            line: 1,
            column: first.map_or(1, |i| i + 1),
        });
    }
    let envelope: RawEnvelope<'_> = serde_json::from_slice(body).map_err(|e| EnvelopeError::Malformed {
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let events =
        envelope.events.into_iter().enumerate().map(|(index, raw)| parse_event(index, raw.get())).collect();
    Ok(ParsedEnvelope { events })
}

/// Decodes one event object from its JSON text.
pub fn parse_event(index: usize, raw: &str) -> Result<Event, EventError> {
    // serde's derived structs also accept a JSON array of field values; an event is an object.
    if !raw.trim_start().starts_with('{') {
        return Err(EventError {
            index,
            id: None,
            path: ".".to_owned(),
            message: "an event must be a JSON object".to_owned(),
            raw: raw.to_owned(),
        });
    }
    let fail = |path: &str, message: String| EventError {
        index,
        id: event_id_of(raw),
        path: path.to_owned(),
        message,
        raw: raw.to_owned(),
    };
    // PostgreSQL's text and jsonb cannot hold U+0000, so no backend stores it in an event;
    // the raw text, where it stays escaped, is kept in quarantine instead.
    if has_escaped_nul(raw) {
        return Err(fail(".", "a string contains U+0000 (NUL), which is not stored".to_owned()));
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    match serde_path_to_error::deserialize::<_, Event>(&mut de) {
        Ok(mut event) => {
            event.target.normalise();
            event.validate().map_err(|(path, message)| fail(&path, message))?;
            event.raw = raw.to_owned();
            Ok(event)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            Err(EventError {
                index,
                id: event_id_of(raw),
                path,
                message: strip_position(&inner.to_string()),
                raw: raw.to_owned(),
            })
        }
    }
}

/// Whether JSON text holds the escape `\u0000`: a `\u0000` preceded by an even number of
/// backslashes (an odd number means the backslash itself is escaped: literal text).
fn has_escaped_nul(raw: &str) -> bool {
    let b = raw.as_bytes();
    raw.match_indices("\\u0000")
        .any(|(i, _)| b[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 0)
}

/// The `id` of an event object that failed to parse, if it has a string one.
fn event_id_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<IdOnly>(raw).ok()?.id? {
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 256 => Some(s),
        _ => None,
    }
}

/// serde_json appends " at line L column C", which is meaningless inside one event's text
/// once the path names the field.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_of_both_registry_generations_and_plain_json_are_accepted() {
        for ct in [MEDIA_TYPE_V1, MEDIA_TYPE_V2, "application/json", "Application/JSON; charset=utf-8"] {
            assert_eq!(check_content_type(Some(ct)), Ok(()), "{ct}");
        }
        assert_eq!(check_content_type(None), Err(EnvelopeError::MissingContentType));
        assert!(matches!(
            check_content_type(Some("text/plain")),
            Err(EnvelopeError::UnsupportedContentType(_))
        ));
    }

    #[test]
    fn malformed_bodies_say_where() {
        let err = parse_envelope(b"{\"events\": [1,", Some("application/json")).unwrap_err();
        assert!(matches!(err, EnvelopeError::Malformed { line: 1, .. }), "{err}");
        let err = parse_envelope(b"{\"evnts\": []}", Some("application/json")).unwrap_err();
        assert!(err.to_string().contains("missing field `events`"), "{err}");
    }

    #[test]
    fn a_bad_event_is_reported_with_its_path_and_id_and_the_others_survive() {
        let body = br#"{"events":[
            {"id":"good","timestamp":"2026-01-01T00:00:00Z","action":"push","target":{"repository":"a/b","size":1}},
            {"id":"bad","timestamp":"2026-01-01T00:00:00Z","action":"push","target":{"repository":"a/b","size":"big"}},
            42
        ]}"#;
        let parsed = parse_envelope(body, Some(MEDIA_TYPE_V1)).unwrap();
        assert_eq!(parsed.events.len(), 3);
        assert_eq!(parsed.events[0].as_ref().unwrap().id, "good");
        let bad = parsed.events[1].as_ref().unwrap_err();
        assert_eq!((bad.index, bad.id.as_deref(), bad.path.as_str()), (1, Some("bad"), "target.size"));
        assert!(bad.message.starts_with("invalid type: string \"big\""), "{}", bad.message);
        assert!(bad.raw.contains("\"big\""));
        let not_object = parsed.events[2].as_ref().unwrap_err();
        assert_eq!((not_object.index, not_object.id.as_deref(), not_object.path.as_str()), (2, None, "."));
        assert_eq!(bad.to_string(), format!("event 1 (bad): target.size: {}", bad.message));
        assert_eq!(not_object.to_string(), "event 2: an event must be a JSON object");
        let missing = parse_event(0, r#"{"id":"x","action":"push"}"#).unwrap_err();
        assert_eq!(missing.to_string(), "event 0 (x): missing field `timestamp`");
    }

    #[test]
    fn nul_characters_oversized_fields_and_sizes_beyond_int64_are_explained() {
        let ev = |target: &str, actor: &str| {
            format!(
                r#"{{"id":"x","timestamp":"2026-01-01T00:00:00Z","action":"push","target":{target},"actor":{actor}}}"#
            )
        };
        let nul = parse_event(0, &ev(r#"{"repository":"a"}"#, r#"{"name":"a\u0000b"}"#)).unwrap_err();
        assert!(nul.message.contains("NUL"), "{nul}");
        let literal = parse_event(0, &ev(r#"{"repository":"a"}"#, r#"{"name":"a\\u0000b"}"#)).unwrap();
        assert_eq!(literal.actor.name.as_deref(), Some("a\\u0000b"));
        let after_escaped_backslash = ev(r#"{"repository":"a"}"#, r#"{"name":"a\\\u0000b"}"#);
        assert!(parse_event(0, &after_escaped_backslash).is_err());
        let long = format!(r#"{{"name":"{}"}}"#, "a".repeat(257));
        let long = parse_event(0, &ev(r#"{"repository":"a"}"#, &long)).unwrap_err();
        assert_eq!(long.path, "actor.name");
        let huge = parse_event(0, &ev(r#"{"repository":"a","size":9223372036854775808}"#, "{}")).unwrap_err();
        assert_eq!(huge.path, "target.size");
        assert!(parse_event(0, &ev(r#"{"repository":"a","size":9223372036854775807}"#, "{}")).is_ok());
    }

    #[test]
    fn deeply_nested_events_are_explained_not_overflowed() {
        let deep = format!("{{\"events\":[{{\"x\":{}{}}}]}}", "[".repeat(100_000), "]".repeat(100_000));
        let parsed = parse_envelope(deep.as_bytes(), Some("application/json")).unwrap();
        let err = parsed.events[0].as_ref().unwrap_err();
        assert_eq!(err.raw.len(), 200_006);
        let deep_envelope = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse_envelope(deep_envelope.as_bytes(), Some("application/json")).unwrap_err();
        assert!(matches!(err, EnvelopeError::Malformed { .. }), "{err}");
    }
}
