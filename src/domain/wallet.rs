//! Wallets and their ledger.

use rust_decimal::Decimal;
use serde::Serialize;

use super::time::Timestamp;

/// A customer's wallet. Its balance always equals the sum of its ledger.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    /// Wallet id.
    pub id: i32,
    /// The owner; every customer has exactly one wallet.
    pub customer_id: i32,
    /// Taka in the wallet (TrustCart's key), including any `heldBalance`.
    pub balance: Decimal,
    /// Part of `balance` held for withdrawals that are pending or approved: spendable by
    /// nothing until the request is paid (debited) or rejected (released).
    pub held_balance: Decimal,
    /// Taka earned but still in its hold (the return window) or in review: shown, never
    /// spendable or withdrawable, and not part of `balance`.
    pub pending_balance: Decimal,
    /// Sum of all credits.
    pub total_earned: Decimal,
    /// Sum of all debits.
    pub total_spent: Decimal,
    /// When the wallet was opened.
    pub created_at: Timestamp,
    /// When the balance last changed.
    pub updated_at: Timestamp,
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
    /// `posted` for a ledger row; `pending` for a reward still in its hold or in review,
    /// listed first on the first page (it is not a ledger row yet: its `id` is the
    /// reward's, its `idempotencyKey` the one it will be posted under, and it does not
    /// move `balanceAfter`).
    pub status: LedgerStatus,
    /// The wallet's owner.
    pub customer_id: i32,
    /// `credit` or `debit`.
    pub transaction_type: Direction,
    /// Taka moved, always positive.
    pub amount: Decimal,
    /// Why: `referral`, `bonus`, `refund`, `purchase` or `withdrawal`.
    pub source: WalletSource,
    /// The referral, order or request this movement belongs to.
    pub reference_id: Option<i32>,
    /// Free text for the customer's statement.
    pub description: Option<String>,
    /// The wallet's balance right after this movement.
    pub balance_after: Decimal,
    /// When it was posted (for a pending reward: when it was earned).
    pub created_at: Timestamp,
    /// For a pending reward: when its hold ends (`null` while in review, and for ledger
    /// rows).
    pub release_at: Option<Timestamp>,
}

super::sql_enum! {
    /// The direction of a wallet movement (`wallet_transactions.transaction_type`).
    pub enum Direction = "wallet_transaction_type" {
        /// Money in.
        Credit = "credit",
        /// Money out.
        Debit = "debit",
    }
}

super::sql_enum! {
    /// Why money moved: TrustCart's `wallet_transactions.source` values.
    pub enum WalletSource = "wallet_source" {
        /// A referral reward.
        Referral = "referral",
        /// A goodwill or promotional bonus.
        Bonus = "bonus",
        /// Money returned for an order.
        Refund = "refund",
        /// Spent on an order.
        Purchase = "purchase",
        /// Paid out to the customer.
        Withdrawal = "withdrawal",
    }
}

super::sql_enum! {
    /// A ledger row's state (`wallet_transactions.status`): ledger rows are `posted`;
    /// `pending` marks a held reward in a statement; `reversed` is TrustCart's name,
    /// unused (a reversal is a new row, never a change of an old one).
    pub enum LedgerStatus = "wallet_transaction_status" {
        /// Applied to the balance.
        Posted = "posted",
        /// Held, not yet applied.
        Pending = "pending",
        /// Undone by a later row.
        Reversed = "reversed",
    }
}

super::sql_enum! {
    /// What posting to a ledger did (`post_wallet_transaction`, `post_points_transaction`).
    pub enum PostingOutcome = "posting_outcome" {
        /// Applied now.
        Posted = "posted",
        /// Applied before under the same key, with the same movement.
        Replayed = "replayed",
        /// The key was used before for a different movement; nothing changed.
        KeyConflict = "key_conflict",
        /// A debit or redemption larger than the balance; nothing changed.
        InsufficientFunds = "insufficient_funds",
        /// No live customer has this account; nothing changed.
        AccountNotFound = "account_not_found",
    }
}

/// Longest accepted idempotency key, in characters (the columns are varchar(100)).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 100;
/// Key prefixes of the reward engine's and the payouts' ledger rows. An operator's key may
/// not use them, or it could pre-empt (and so block) a reward or a payout.
pub const RESERVED_KEY_PREFIXES: [&str; 3] = ["referral:", "milestone:", "withdrawal:"];

/// The key that makes an operator's ledger movement happen once: trimmed, 1 to
/// [`MAX_IDEMPOTENCY_KEY_LEN`] printable characters, never one of the reward engine's.
/// The one home of these rules; wallets and points take only this type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// Why a string is not an [`IdempotencyKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    /// Absent or blank.
    #[error("is required: send a key that stays the same when you retry")]
    Missing,
    /// Starts with a prefix of the reward engine.
    #[error(
        "must not start with referral:, milestone: or withdrawal: (those keys belong to the reward engine and payouts)"
    )]
    Reserved,
    /// Too long, or has control characters.
    #[error("must be at most 100 printable characters")]
    Malformed,
}

impl IdempotencyKey {
    /// Checks a key as a client sent it.
    pub fn parse(raw: &str) -> Result<Self, IdempotencyKeyError> {
        let key = raw.trim();
        if key.is_empty() {
            Err(IdempotencyKeyError::Missing)
        } else if RESERVED_KEY_PREFIXES
            .iter()
            .any(|prefix| key.starts_with(prefix))
        {
            Err(IdempotencyKeyError::Reserved)
        // Counted in characters, as varchar(100) counts them: a Bangla key is not 3x shorter.
        } else if key.chars().count() > MAX_IDEMPOTENCY_KEY_LEN || key.chars().any(char::is_control)
        {
            Err(IdempotencyKeyError::Malformed)
        } else {
            Ok(Self(key.to_owned()))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_trimmed_bounded_in_characters_and_never_the_engines() {
        assert_eq!(
            IdempotencyKey::parse("  order-501 ").unwrap().as_str(),
            "order-501"
        );
        assert_eq!(
            IdempotencyKey::parse(" "),
            Err(IdempotencyKeyError::Missing)
        );
        assert_eq!(
            IdempotencyKey::parse("referral:1:referrer:wallet"),
            Err(IdempotencyKeyError::Reserved)
        );
        assert!(IdempotencyKey::parse(&"ক".repeat(100)).is_ok());
        assert_eq!(
            IdempotencyKey::parse(&"ক".repeat(101)),
            Err(IdempotencyKeyError::Malformed)
        );
        assert_eq!(
            IdempotencyKey::parse("a\u{7}b"),
            Err(IdempotencyKeyError::Malformed)
        );
    }
}
