//! Event time: RFC 3339 in, UTC microseconds inside.
//!
//! Registries send Go's `RFC3339Nano` (`2026-11-22T20:55:53.18762358Z`). Every store this
//! project supports keeps at least microseconds (PostgreSQL's `timestamptz` keeps exactly that),
//! so the model truncates to microseconds once, at parse time: every backend then holds and
//! compares the same value, and the reference store agrees with all of them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, UTC, with microsecond precision.
///
/// ```
/// use notify_core::Timestamp;
/// let t: Timestamp = "2026-11-22T21:55:53.18762358+01:00".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-22T20:55:53.187623Z");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp with offset: {0:?}")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The instant `micros` microseconds after the Unix epoch (negative: before it).
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self { micros }
    }

    /// Microseconds since the Unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.micros
    }

    /// The same instant as a chrono value, for stores whose drivers speak chrono.
    pub fn to_datetime(self) -> DateTime<Utc> {
        // Every i64 microsecond count is within chrono's range (±262,000 years).
        DateTime::from_timestamp_micros(self.micros).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Truncates a chrono value to microseconds.
    pub fn from_datetime<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> Self {
        Self { micros: t.timestamp_micros() }
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| Self::from_datetime(&t))
            .map_err(|_| TimestampError(s.chars().take(64).collect()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_datetime().to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_nanoseconds_and_normalises_to_utc() {
        let t: Timestamp = "2026-11-22T20:55:53.18762358Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-22T20:55:53.187623Z");
        let same: Timestamp = "2026-11-22T15:55:53.187623999-05:00".parse().unwrap();
        assert_eq!(t, same);
    }

    #[test]
    fn rejects_timestamps_without_offset() {
        assert!("2026-11-22T20:55:53".parse::<Timestamp>().is_err());
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn round_trips_through_its_display() {
        let t = Timestamp::from_unix_micros(1_795_000_000_123_456);
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
    }
}
