//! Withdrawals: a customer's wallet money paid out to bKash, Nagad, Rocket or a bank.
//!
//! A request holds its amount in the wallet (`heldBalance`) until it is paid (the ledger
//! is debited once) or rejected (the hold is released). The transitions and the hold are
//! decided in SQL (`request_withdrawal`, `decide_withdrawal` in
//! `migrations/20261202000050_withdrawals.sql`); these are the names they share with Rust.

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use super::time::Timestamp;

super::sql_enum! {
    /// Where a withdrawal request is (`wallet_withdrawal_requests.status`):
    /// `pending → approved → paid`, and `pending | approved → rejected`.
    pub enum WithdrawalStatus = "withdrawal_status" {
        /// Asked for; the amount is held.
        Pending = "pending",
        /// Accepted by staff; the amount is still held until it is paid out.
        Approved = "approved",
        /// Paid out: the ledger was debited and the hold released.
        Paid = "paid",
        /// Refused: the hold was released, no money moved.
        Rejected = "rejected",
    }
}

super::sql_enum! {
    /// How the money is paid out (`wallet_withdrawal_requests.method`).
    pub enum WithdrawalMethod = "withdrawal_method" {
        /// bKash mobile money: the account is a phone number.
        Bkash = "bkash",
        /// Nagad mobile money: the account is a phone number.
        Nagad = "nagad",
        /// Rocket (Dutch-Bangla) mobile money: the account is a phone number.
        Rocket = "rocket",
        /// A bank transfer: the account is free text (bank, branch, account number).
        Bank = "bank",
    }
}

impl WithdrawalMethod {
    /// Whether the account of this method is a mobile number (which must then be the
    /// customer's verified phone).
    pub fn is_mobile_money(self) -> bool {
        !matches!(self, Self::Bank)
    }
}

super::sql_enum! {
    /// What `request_withdrawal` and `decide_withdrawal` answer.
    pub enum WithdrawalOutcome = "withdrawal_outcome" {
        /// The request was created and its amount held.
        Created = "created",
        /// The idempotency key was used before for the same request.
        Replayed = "replayed",
        /// The idempotency key was used before for another request; nothing changed.
        KeyConflict = "key_conflict",
        /// More than the balance less what is already held; nothing changed.
        InsufficientFunds = "insufficient_funds",
        /// Over the customer's maximum for 24 hours; nothing changed.
        DailyLimitExceeded = "daily_limit_exceeded",
        /// No live customer has this wallet; nothing changed.
        AccountNotFound = "account_not_found",
        /// The transition was made.
        Applied = "applied",
        /// No such request.
        NotFound = "not_found",
        /// The transition is not allowed from the request's status; nothing changed.
        InvalidTransition = "invalid_transition",
    }
}

/// A withdrawal request, in TrustCart's shape (`id` is a string, as its bigint was),
/// with Bondhu's audit fields added.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawalRequest {
    /// Request id (a string, as TrustCart sends its bigint ids).
    #[serde(serialize_with = "id_string")]
    #[schema(value_type = String)]
    pub id: i64,
    /// The customer paid.
    pub customer_id: i32,
    /// Taka to pay out.
    pub amount: Decimal,
    /// `bkash`, `nagad`, `rocket` or `bank`.
    pub method: WithdrawalMethod,
    /// The mobile number (E.164) or bank account paid to.
    pub account: String,
    /// `pending`, `approved`, `paid` or `rejected`.
    pub status: WithdrawalStatus,
    /// Free text from the customer or staff.
    pub notes: Option<String>,
    /// Whether the account is the customer's verified phone (false only when staff
    /// entered another account; `createdBy` says who).
    pub account_is_verified_phone: bool,
    /// Who asked: `customer:7`, `user:3` or `api_key:2`.
    pub created_by: String,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_at: Option<Timestamp>,
    /// Who rejected it.
    pub rejected_by: Option<String>,
    /// When it was rejected.
    pub rejected_at: Option<Timestamp>,
    /// Who marked it paid.
    pub paid_by: Option<String>,
    /// When it was marked paid.
    pub paid_at: Option<Timestamp>,
    /// The payout's transaction id at bKash, Nagad, Rocket or the bank.
    pub payout_reference: Option<String>,
    /// The ledger debit of the payout.
    pub paid_transaction_id: Option<i32>,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

fn id_string<S: Serializer>(id: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(id)
}
