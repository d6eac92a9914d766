//! Partner commissions and payout batches: the names they share with SQL.
//!
//! A commission is decided inside the delivery (`accrue_partner_commission`, called by
//! `apply_order_status`), held like a reward, released by the jobs loop, voided or clawed
//! back when its order is reversed, and paid through a payout batch. Every transition is
//! a SQL function (`migrations/20261204000120_partner_commission_functions.sql`).

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::partner::PayoutMethod;
use super::time::Timestamp;

super::sql_enum! {
    /// Where a commission is (`partner_commissions.status`).
    pub enum CommissionStatus = "partner_commission_status" {
        /// Earned, in its hold (`release_at`).
        Pending = "pending",
        /// The hold ended; waiting for a payout batch.
        Released = "released",
        /// Paid in a payout batch (`transaction_id`).
        Paid = "paid",
        /// Cancelled in its hold: the order was returned, cancelled or refunded.
        Voided = "voided",
        /// Taken back after its hold; what was paid is owed by the partner.
        ClawedBack = "clawed_back",
        /// Never earned (`skip_reason`).
        Skipped = "skipped",
    }
}

super::sql_enum! {
    /// Why an order earned its partner nothing (`partner_commissions.skip_reason`).
    pub enum SkipReason = "commission_skip_reason" {
        /// The order's customer is the partner's own customer account.
        OwnAccount = "own_account",
        /// The order's customer has the partner's phone.
        OwnPhone = "own_phone",
        /// The order's customer used a device of the partner's account.
        OwnDevice = "own_device",
        /// The order went to an address of the partner's account.
        OwnAddress = "own_address",
        /// The partner was inactive when the order was delivered.
        PartnerInactive = "partner_inactive",
        /// The rule computed nothing (a percentage of an order worth nothing).
        ZeroAmount = "zero_amount",
    }
}

super::sql_enum! {
    /// Where a payout batch line (one partner's transfer) is.
    pub enum PayoutLineStatus = "payout_line_status" {
        /// In the file, waiting for the provider's answer.
        Pending = "pending",
        /// Paid, with the provider's transaction id.
        Paid = "paid",
        /// Refused by the provider (or staff): its commissions are unpaid again.
        Rejected = "rejected",
    }
}

super::sql_enum! {
    /// What settling a payout line did (`settle_payout_line`).
    pub enum SettleOutcome = "payout_settle_outcome" {
        /// The line and its commissions were marked paid.
        Paid = "paid",
        /// The line was rejected: its commissions are unpaid again.
        Rejected = "rejected",
        /// The line already had this answer; nothing changed.
        Replayed = "replayed",
        /// The partner has no line in the batch; nothing changed.
        NotInBatch = "not_in_batch",
        /// The line was paid with another transaction id; nothing changed.
        TransactionMismatch = "transaction_mismatch",
        /// A rejected line cannot be paid, nor a paid one rejected; nothing changed.
        InvalidTransition = "invalid_transition",
    }
}

/// Whether a batch still waits for answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// At least one line waits for the provider's answer.
    Open,
    /// Every line is paid or rejected.
    Settled,
}

/// A payout batch without its lines (the list), camelCase like Bondhu's own routes.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayoutBatchSummary {
    /// Batch id.
    pub id: i64,
    /// `bkash`, `nagad` or `bank`: every line is paid that way.
    pub method: PayoutMethod,
    /// Commissions released from (inclusive)…
    pub released_from: Timestamp,
    /// …to (exclusive).
    pub released_to: Timestamp,
    /// `open` while a line waits for an answer, else `settled`.
    pub status: BatchStatus,
    /// Σ the commissions taken, taka.
    #[schema(value_type = f64)]
    pub gross_amount: Decimal,
    /// Σ what partners owed, taken from them.
    #[schema(value_type = f64)]
    pub netted_amount: Decimal,
    /// Σ the transfers (gross less netted).
    #[schema(value_type = f64)]
    pub total_amount: Decimal,
    /// Σ the transfers marked paid.
    #[schema(value_type = f64)]
    pub paid_amount: Decimal,
    /// Σ the transfers rejected.
    #[schema(value_type = f64)]
    pub rejected_amount: Decimal,
    /// Lines (one per partner).
    pub partner_count: i32,
    /// Commissions taken.
    pub commission_count: i32,
    /// Lines waiting for an answer.
    pub pending_lines: i64,
    /// Who built it: `user:3` or `api_key:2`.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
}

/// One partner's transfer in a batch.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayoutLine {
    /// The partner paid.
    pub partner_id: Uuid,
    /// Their code.
    pub partner_code: String,
    /// Their name when the batch was built.
    pub partner_name: Option<String>,
    /// The wallet (E.164) or bank account paid to, as it was when the batch was built.
    pub account: String,
    /// The reference the transfer carries (the file's `Reference`).
    pub reference: String,
    /// Σ the line's commissions.
    #[schema(value_type = f64)]
    pub gross_amount: Decimal,
    /// What the partner owed, taken from the gross.
    #[schema(value_type = f64)]
    pub netted_amount: Decimal,
    /// The transfer: gross less netted.
    #[schema(value_type = f64)]
    pub amount: Decimal,
    /// How many commissions.
    pub commission_count: i32,
    /// The commissions the line carries (or carried, if rejected).
    pub commission_ids: Vec<i64>,
    /// `pending`, `paid` or `rejected`.
    pub status: PayoutLineStatus,
    /// The provider's transaction id, once paid.
    pub transaction_id: Option<String>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// Who answered for it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
}

/// A payout batch with its lines.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayoutBatch {
    /// The batch and its totals.
    #[serde(flatten)]
    pub batch: PayoutBatchSummary,
    /// One line per partner, by partner id.
    pub lines: Vec<PayoutLine>,
}
