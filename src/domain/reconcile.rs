//! Reconciliation reports: what the checks found and what `--repair` fixed.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// One referral a check found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The referral.
    pub referral_id: i32,
    /// The order involved (the qualifying order, or the one that should have qualified).
    pub order_id: Option<i32>,
    /// Why it was found (`order_delivered`, `hold_ended`, `returned`, `refunded`, …).
    pub reason: String,
}

/// A balance that differs from the sum of its ledger. Reported, never "fixed": only a
/// person who knows why may move money to correct it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// Whose balance.
    pub customer_id: i32,
    /// `wallet` or `points`.
    pub ledger: String,
    /// The balance as stored.
    #[schema(value_type = f64)]
    pub balance: Decimal,
    /// What the ledger adds up to.
    #[schema(value_type = f64)]
    pub ledger_sum: Decimal,
}

/// A KPI counter that differs from the full scans of its base tables (`kpi_reference`).
/// Reported, never "fixed" by a run: `kpi_rebuild` recomputes the counters, once someone
/// knows why they drifted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KpiDrift {
    /// The metric (`customers`, `delivered_orders`, …).
    pub metric: String,
    /// The counter as kept (totals and unfolded deltas).
    #[schema(value_type = f64)]
    pub counted: Decimal,
    /// What the base tables add up to.
    #[schema(value_type = f64)]
    pub expected: Decimal,
}

/// A partner whose owed amount (the debt its payout batches net off) differs from what its
/// commissions came to owe, less what batches not rejected netted already. Reported, never
/// repaired: a debt is money, and someone must find out why it moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartnerDrift {
    /// The partner.
    pub partner_id: uuid::Uuid,
    /// Its code.
    pub code: String,
    /// `owed_amount` as stored.
    #[schema(value_type = f64)]
    pub owed: Decimal,
    /// What its commissions and batches add up to.
    #[schema(value_type = f64)]
    pub expected: Decimal,
}

/// An order whose partner stamp (`sales_orders.partner_id` and `partner_referred_at`, what
/// the partner report counts by) differs from the partner it counts for (`order_partner`).
/// Derived data, so a repair stamps the customer's orders again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Misstamp {
    /// The order.
    pub order_id: i32,
    /// Its customer.
    pub customer_id: Option<i32>,
    /// The partner it carries.
    pub stamped: Option<uuid::Uuid>,
    /// The partner it counts for.
    pub expected: Option<uuid::Uuid>,
}

/// The misstamped orders a run found, and how many its repair stamped again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StampCheck {
    /// How many orders were found.
    pub found: usize,
    /// How many the repair wrote (0 without `--repair`).
    pub repaired: usize,
    /// The first ones found (at most [`Report::MAX_ITEMS`]).
    pub items: Vec<Misstamp>,
}

/// The referrals one check found, and how many a repair fixed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// How many were found.
    pub found: usize,
    /// How many the repair fixed (0 without `--repair`).
    pub repaired: usize,
    /// The first ones found (at most [`Report::MAX_ITEMS`]).
    pub items: Vec<Finding>,
}

/// A reconciliation run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The stored report's id.
    pub id: Option<i32>,
    /// `cli` or `job`.
    pub triggered_by: String,
    /// Whether the run repaired what it could.
    pub repair: bool,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Delivered first orders whose referral was never completed.
    pub unfinished_completions: Check,
    /// Holds past their end that were never released.
    pub overdue_holds: Check,
    /// Rewards on returned, cancelled or refunded orders never voided or clawed back.
    pub unreversed_completions: Check,
    /// Wallet and points balances that differ from their ledger (never repaired).
    pub balance_drift: Vec<Drift>,
    /// KPI counters that differ from their base tables (never repaired). Absent from
    /// reports stored before the counters existed.
    #[serde(default)]
    pub kpi_drift: Vec<KpiDrift>,
    /// Partners whose owed amount differs from their commissions and batches (never
    /// repaired). Absent from reports stored before the check existed.
    #[serde(default)]
    pub partner_drift: Vec<PartnerDrift>,
    /// Orders whose partner stamp differs from the partner they count for (repaired).
    /// Absent from reports stored before the check existed.
    #[serde(default)]
    pub partner_stamps: StampCheck,
}

impl Report {
    /// The most findings a report lists per check (all are counted).
    pub const MAX_ITEMS: usize = 100;

    /// Whether the run found nothing wrong (or repaired all of it, and no balance drifts).
    pub fn is_clean(&self) -> bool {
        let settled = |c: &Check| c.found == c.repaired;
        settled(&self.unfinished_completions)
            && settled(&self.overdue_holds)
            && settled(&self.unreversed_completions)
            && self.balance_drift.is_empty()
            && self.kpi_drift.is_empty()
            && self.partner_drift.is_empty()
            && self.partner_stamps.found == self.partner_stamps.repaired
    }
}
