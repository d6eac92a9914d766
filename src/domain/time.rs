//! Timestamps on the wire: UTC, ISO-8601, milliseconds, `Z` (as TrustCart sends them).
//!
//! Every instant the API returns is a [`Timestamp`]: one type carries the format, the
//! OpenAPI schema and the database mapping, so no field has to repeat them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// Stored as `timestamptz`. `query_as!` fills a non-null column of this type through
// `From<DateTime<Utc>>`; a nullable one needs an `as "col: Timestamp"` override. (Not a doc
// comment: the doc comment is the OpenAPI description.)
/// An instant, in UTC with milliseconds and `Z`: `2026-01-31T04:00:00.000Z`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(transparent)]
#[schema(value_type = String, format = DateTime, example = "2026-01-31T04:00:00.000Z")]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The current instant.
    pub fn now() -> Self {
        Self(Utc::now())
    }

    /// The instant.
    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> Self {
        at.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_millis(&self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Any RFC 3339 instant (what clients send, and what PostgreSQL's `to_jsonb` writes).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DateTime::<Utc>::deserialize(deserializer).map(Self)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_millis(&self.0))
    }
}

/// Formats a timestamp as `2026-01-31T04:00:00.000Z`.
pub fn format_millis(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn always_three_fraction_digits_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 1, 31, 4, 0, 0).unwrap();
        assert_eq!(format_millis(&at), "2026-01-31T04:00:00.000Z");
        let at = at + chrono::Duration::microseconds(123_456);
        assert_eq!(format_millis(&at), "2026-01-31T04:00:00.123Z");
    }

    #[test]
    fn a_timestamp_serialises_as_millis_with_z() {
        let at = Utc.with_ymd_and_hms(2026, 1, 31, 4, 0, 0).unwrap();
        let json = serde_json::to_string(&Timestamp::from(at)).unwrap();
        assert_eq!(json, r#""2026-01-31T04:00:00.000Z""#);
        let none: Option<Timestamp> = None;
        assert_eq!(serde_json::to_string(&none).unwrap(), "null");
    }
}
