//! Money: taka with at most two decimal places (poisha), exact, never a float.
//!
//! The one home of "how much may an amount be": every amount the API accepts is one of
//! the types here, each bounded once, all through [`check`]:
//! - [`Money`]: a positive amount up to [`MAX_AMOUNT`] (a wallet movement, a cap, a budget,
//!   a milestone reward);
//! - [`Amount`]: the same, or zero (a campaign's fixed reward, a minimum order);
//! - [`OrderTotal`]: an order's value, zero up to what `numeric(12,2)` holds;
//! - [`Percent`]: above 0 and at most 100, with at most two decimals.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

/// The largest amount of money the API accepts in one value: ten lakh taka. Larger
/// amounts are almost certainly typing mistakes, and the columns (numeric(12,2)) stay far
/// from overflow.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 2);

/// The largest order total: what `sales_orders.total_amount` (numeric(12,2)) holds.
pub const MAX_ORDER_TOTAL: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2);

/// Why a value is not a valid [`Money`] amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a finite decimal number.
    #[error("must be a number")]
    NotANumber,
    /// Zero or negative.
    #[error("must be greater than 0")]
    NotPositive,
    /// Smaller units than one poisha.
    #[error("must have at most 2 decimal places")]
    TooPrecise,
    /// Zero or negative where zero is not allowed, or negative where it is.
    #[error("must not be negative")]
    Negative,
    /// Above the type's bound.
    #[error("must be at most {0}")]
    TooLarge(Decimal),
}

/// The one bound check: a finite decimal with at most two decimal places, within
/// `lowest..=highest`, where `lowest` is zero or one poisha (`positive`).
fn check(amount: Decimal, positive: bool, highest: Decimal) -> Result<Decimal, MoneyError> {
    if positive && amount <= Decimal::ZERO {
        Err(MoneyError::NotPositive)
    } else if amount < Decimal::ZERO {
        Err(MoneyError::Negative)
    } else if amount.normalize().scale() > 2 {
        Err(MoneyError::TooPrecise)
    } else if amount > highest {
        Err(MoneyError::TooLarge(highest))
    } else {
        Ok(amount.round_dp(2))
    }
}

/// Declares a bounded decimal type: validated on construction, deserialised from a JSON
/// number's own text (never a string, as in TrustCart), serialised as an exact number.
macro_rules! bounded_decimal {
    ($(#[doc = $doc:literal])* $name:ident, positive: $positive:expr, highest: $highest:expr, $description:literal) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Decimal);

        impl $name {
            /// Validates an exact decimal.
            pub fn new(value: Decimal) -> Result<Self, MoneyError> {
                check(value, $positive, $highest).map(Self)
            }

            /// The value.
            pub fn get(self) -> Decimal {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = MoneyError;

            /// Parses a JSON number's text (`150`, `150.5`, `1.5e2`).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(parse_decimal(s).ok_or(MoneyError::NotANumber)?)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let number = serde_json::Number::deserialize(deserializer)?;
                number.to_string().parse().map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:.2}", self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Number)
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <Decimal as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <Decimal as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        /// A stored value outside the bound fails to decode (a 500 a test catches), never
        /// reaches the API as a valid amount.
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self::new(<Decimal as sqlx::Decode<sqlx::Postgres>>::decode(value)?)?)
            }
        }
    };
}

bounded_decimal!(
    /// A positive amount of taka with at most two decimal places, at most [`MAX_AMOUNT`]:
    /// a wallet movement, a cap, a budget, a milestone reward. On the wire it is a JSON
    /// number written with its exact digits (`150.50`); it is parsed from the number's
    /// text, so `0.1` is exactly one tenth.
    Money, positive: true, highest: MAX_AMOUNT,
    "Taka, > 0, at most 2 decimal places, at most 1000000.00"
);

bounded_decimal!(
    /// Taka, zero or more, at most two decimals, at most [`MAX_AMOUNT`].
    Amount, positive: false, highest: MAX_AMOUNT,
    "Taka, >= 0, at most 2 decimal places, at most 1000000.00"
);

bounded_decimal!(
    /// An order's value in taka, zero up to [`MAX_ORDER_TOTAL`], at most two decimals.
    OrderTotal, positive: false, highest: MAX_ORDER_TOTAL,
    "Taka, >= 0, at most 2 decimal places, at most 9999999999.99"
);

bounded_decimal!(
    /// A percentage above 0 and at most 100, with at most two decimals.
    Percent, positive: true, highest: Decimal::ONE_HUNDRED,
    "Percent, > 0 and <= 100, at most 2 decimal places"
);

/// Reads a JSON number's text (`150`, `150.5`, `1.5e2`) as an exact decimal.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// The text of an amount sent as a JSON number or a numeric string: TrustCart's admin
/// forms send both. (Through `Value`: an untagged enum would lose serde_json's exact
/// number text.)
fn number_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::String(s) => Ok(s.trim().to_owned()),
        other => Err(serde::de::Error::custom(format!(
            "expected a number, found {other}"
        ))),
    }
}

/// Deserialises a bounded amount (`Amount`, `Money`, `Percent`, …) sent as a JSON number
/// or a numeric string, with the type's own bound: `#[serde(deserialize_with = ...)]`.
pub fn number_or_string<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = MoneyError>,
{
    number_text(deserializer)?
        .parse()
        .map_err(serde::de::Error::custom)
}

/// [`number_or_string`] for an amount that may be `null`.
pub fn number_or_string_opt<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = MoneyError>,
{
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => number_or_string(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// An exact decimal, unbounded, sent as a JSON number or a numeric string; for values a
/// caller bounds itself to name the field in its error (the dry run's order total).
pub fn decimal_number_or_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Decimal, D::Error> {
    let text = number_text(deserializer)?;
    parse_decimal(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a number")))
}

/// Taka as TrustCart's numeric strings (`"100.00"`), for any amount type.
pub fn money_string<S: serde::Serializer, T: fmt::Display>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{value:.2}"))
}

/// [`money_string`] for optional amounts.
pub fn money_string_opt<S: serde::Serializer, T: fmt::Display>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => money_string(value, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(body: &str) -> Result<Money, String> {
        serde_json::from_str::<Money>(body).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_exact_amounts() {
        assert_eq!(parse_json("150.5").unwrap().to_string(), "150.50");
        assert_eq!(parse_json("0.01").unwrap().to_string(), "0.01");
        assert_eq!(parse_json("1000000").unwrap().to_string(), "1000000.00");
        assert_eq!(parse_json("1.5e2").unwrap().to_string(), "150.00");
        // Trailing zeros beyond two places are not extra precision.
        assert_eq!(parse_json("10.500").unwrap().to_string(), "10.50");
    }

    #[test]
    fn rejects_what_is_not_money() {
        for bad in [
            "0",
            "-50",
            "0.001",
            "10.994",
            "1000000.01",
            "1e400",
            "\"100\"",
            "null",
            "true",
        ] {
            assert!(parse_json(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn every_bounded_type_shares_the_one_check() {
        assert!(serde_json::from_str::<Amount>("0").is_ok());
        assert!(serde_json::from_str::<Amount>("-0.01").is_err());
        assert!(serde_json::from_str::<Amount>("1000000.01").is_err());
        assert!(serde_json::from_str::<OrderTotal>("9999999999.99").is_ok());
        // 1e28 parses as a Decimal; it must be refused, not overflow later.
        assert!(serde_json::from_str::<OrderTotal>("1e28").is_err());
        assert!(serde_json::from_str::<OrderTotal>("1e400").is_err());
        assert!(serde_json::from_str::<Percent>("100").is_ok());
        assert!(serde_json::from_str::<Percent>("0").is_err());
        assert!(serde_json::from_str::<Percent>("100.01").is_err());
        assert!(serde_json::from_str::<Percent>("12.345").is_err());
    }

    #[test]
    fn serialises_as_an_exact_json_number() {
        let money = parse_json("0.1").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "0.1");
        let value = serde_json::json!({ "amount": Money::new(Decimal::new(15050, 2)).unwrap() });
        assert_eq!(value.to_string(), r#"{"amount":150.50}"#);
    }
}
