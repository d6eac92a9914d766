//! Timestamps on the wire: UTC, ISO-8601, milliseconds, `Z` (as TrustCart sends them).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// Formats a timestamp as `2026-01-31T04:00:00.000Z`.
pub fn format_millis(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(serialize_with = "…")]` for `DateTime<Utc>` fields.
pub fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_millis(at))
}

/// `#[serde(serialize_with = "…")]` for `Option<DateTime<Utc>>` fields.
pub fn millis_opt<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&format_millis(at)),
        None => serializer.serialize_none(),
    }
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
}
