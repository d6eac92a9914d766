//! Money: taka with at most two decimal places (poisha), exact, never a float.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

/// The largest amount one wallet movement may carry: ten lakh taka. Larger amounts are
/// almost certainly typing mistakes, and the columns (numeric(12,2)) stay far from overflow.
pub const MAX_MOVEMENT: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 2);

/// A positive amount of taka with at most two decimal places, at most [`MAX_MOVEMENT`].
///
/// On the wire it is a JSON number written with its exact digits (`150.50`); it is parsed
/// from the number's text, so `0.1` is exactly one tenth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Money(Decimal);

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
    /// Above [`MAX_MOVEMENT`].
    #[error("must be at most 1000000.00")]
    TooLarge,
}

impl Money {
    /// Validates an exact decimal amount.
    pub fn new(amount: Decimal) -> Result<Self, MoneyError> {
        if amount <= Decimal::ZERO {
            Err(MoneyError::NotPositive)
        } else if amount.normalize().scale() > 2 {
            Err(MoneyError::TooPrecise)
        } else if amount > MAX_MOVEMENT {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Self(amount.round_dp(2)))
        }
    }

    /// The amount in taka.
    pub fn amount(self) -> Decimal {
        self.0
    }
}

/// Reads a JSON number's text (`150`, `150.5`, `1.5e2`) as an exact decimal.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Parses a JSON number's text (`150`, `150.5`, `1.5e2`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(parse_decimal(s).ok_or(MoneyError::NotANumber)?)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts JSON numbers only: `"100"` is a type error, as it is in TrustCart.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        number.to_string().parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some(
                "Taka, > 0, at most 2 decimal places, at most 1000000.00",
            ))
            .examples([serde_json::json!(150.5)])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

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
    fn serialises_as_an_exact_json_number() {
        let money = parse_json("0.1").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "0.1");
        let value = serde_json::json!({ "amount": Money::new(Decimal::new(15050, 2)).unwrap() });
        assert_eq!(value.to_string(), r#"{"amount":150.50}"#);
    }
}
