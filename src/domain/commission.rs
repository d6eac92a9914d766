//! Partner commissions and payout batches: the names they share with SQL.
//!
//! A commission is decided inside the delivery (`accrue_partner_commission`, called by
//! `apply_order_status`), held like a reward, released by the jobs loop, voided or clawed
//! back when its order is reversed, and paid through a payout batch. Every transition is
//! a SQL function (`migrations/20261204000120_partner_commission_functions.sql`).

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
