//! Wallets and their ledger.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::time::millis;

/// A customer's wallet. Its balance always equals the sum of its ledger.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    /// Wallet id.
    pub id: i32,
    /// The owner; every customer has exactly one wallet.
    pub customer_id: i32,
    /// Spendable taka.
    pub balance: Decimal,
    /// Sum of all credits.
    pub total_earned: Decimal,
    /// Sum of all debits.
    pub total_spent: Decimal,
    /// When the wallet was opened.
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the balance last changed.
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// One movement in a wallet's ledger. Never updated or deleted.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletTransaction {
    /// Transaction id.
    pub id: i32,
    /// The wallet moved.
    pub wallet_id: i32,
    /// The key that makes this movement happen once (unique per wallet).
    pub idempotency_key: String,
    /// Always `posted` today (`pending` and `reversed` are reserved for holds).
    pub status: String,
    /// The wallet's owner.
    pub customer_id: i32,
    /// `credit` or `debit`.
    pub transaction_type: String,
    /// Taka moved, always positive.
    pub amount: Decimal,
    /// Why: `referral`, `bonus`, `refund`, `purchase` or `withdrawal`.
    pub source: String,
    /// The referral, order or request this movement belongs to.
    pub reference_id: Option<i32>,
    /// Free text for the customer's statement.
    pub description: Option<String>,
    /// The wallet's balance right after this movement.
    pub balance_after: Decimal,
    /// When it was posted.
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// The direction of a wallet movement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Money in.
    Credit,
    /// Money out.
    Debit,
}

impl Direction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
        }
    }
}

/// Why money moved: TrustCart's `wallet_transactions.source` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WalletSource {
    /// A referral reward.
    Referral,
    /// A goodwill or promotional bonus.
    Bonus,
    /// Money returned for an order.
    Refund,
    /// Spent on an order.
    Purchase,
    /// Paid out to the customer.
    Withdrawal,
}

impl WalletSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Bonus => "bonus",
            Self::Refund => "refund",
            Self::Purchase => "purchase",
            Self::Withdrawal => "withdrawal",
        }
    }
}
