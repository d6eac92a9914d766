//! Timestamps on the wire: UTC, ISO-8601, milliseconds, `Z` (as TrustCart sends them).
//!
//! Every instant the API returns is a [`Timestamp`]: one type carries the format, the
//! OpenAPI schema and the database mapping, so no field has to repeat them.

use std::fmt;
use std::str::FromStr;

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

/// How long a campaign's rewards stay pending after the delivery: its return window.
///
/// Written as a whole number and a unit, `"90s"`, `"30m"`, `"12h"` or `"7d"`, or `"0"` to
/// release at once; at most 90 days. Shown in the largest unit that says it exactly. A
/// number of seconds is read too (that is how the database hands it over).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RewardHold {
    seconds: u32,
}

impl RewardHold {
    /// The longest hold: 90 days.
    pub const MAX: Self = Self {
        seconds: 90 * 86_400,
    };
    /// What every campaign starts with: 7 days, a courier's usual return window.
    pub const DEFAULT: Self = Self {
        seconds: 7 * 86_400,
    };

    /// A hold of `seconds`, if it is within bounds.
    pub fn from_seconds(seconds: u64) -> Option<Self> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| *s <= Self::MAX.seconds)
            .map(|seconds| Self { seconds })
    }

    /// The hold in seconds.
    pub fn seconds(self) -> u32 {
        self.seconds
    }
}

/// A hold's units, largest first: (seconds, name).
const HOLD_UNITS: [(u32, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];

/// Why a hold could not be read.
pub const REWARD_HOLD_FORMAT: &str =
    "must be \"0\" or a whole number with a unit (s, m, h, d), such as \"7d\", at most 90 days";

impl FromStr for RewardHold {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "0" {
            return Ok(Self { seconds: 0 });
        }
        // The unit is the last character, which may be any character at all (a byte
        // offset would split a multi-byte one).
        let unit_len = s.chars().next_back().map_or(0, char::len_utf8);
        let (number, unit) = s.split_at(s.len() - unit_len);
        let Some(&(unit, _)) = HOLD_UNITS.iter().find(|(_, name)| *name == unit) else {
            return Err(REWARD_HOLD_FORMAT);
        };
        let unit = u64::from(unit);
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(REWARD_HOLD_FORMAT);
        }
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .and_then(Self::from_seconds)
            .ok_or(REWARD_HOLD_FORMAT)
    }
}

impl fmt::Display for RewardHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0");
        }
        // The largest unit that says it exactly (seconds always do).
        let (size, name) = HOLD_UNITS
            .iter()
            .find(|(size, _)| self.seconds.is_multiple_of(*size))
            .copied()
            .unwrap_or((1, "s"));
        write!(f, "{}{name}", self.seconds / size)
    }
}

impl Serialize for RewardHold {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RewardHold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Seconds(s) => Self::from_seconds(s),
            Raw::Text(t) => t.parse().ok(),
        }
        .ok_or_else(|| serde::de::Error::custom(REWARD_HOLD_FORMAT))
    }
}

#[cfg(test)]
mod hold_tests {
    use super::RewardHold;

    #[test]
    fn holds_read_and_print_in_the_largest_exact_unit() {
        for (text, seconds, shown) in [
            ("0", 0, "0"),
            ("90s", 90, "90s"),
            ("120s", 120, "2m"),
            ("12h", 43_200, "12h"),
            ("7d", 604_800, "7d"),
            ("48h", 172_800, "2d"),
            ("90d", 7_776_000, "90d"),
        ] {
            let hold: RewardHold = text.parse().unwrap();
            assert_eq!(hold.seconds(), seconds, "{text}");
            assert_eq!(hold.to_string(), shown, "{text}");
        }
        for bad in [
            "",
            "d",
            "7",
            "-1d",
            "91d",
            "1.5h",
            "7 d",
            "7w",
            "+7d",
            "99999999999999d",
            "7দ",
            "৭d",
            "\u{12}-s\u{e2}",
        ] {
            assert!(bad.parse::<RewardHold>().is_err(), "{bad:?}");
        }
        let from_db: RewardHold = serde_json::from_str("604800").unwrap();
        assert_eq!(from_db, RewardHold::DEFAULT);
        assert_eq!(serde_json::to_string(&from_db).unwrap(), "\"7d\"");
    }
}
