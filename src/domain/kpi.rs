//! The loyalty programme's headline numbers, in TrustCart's snake_case shape.
//!
//! Every value is a JSON number. "Delivered" means a successful status (`delivered`,
//! `partial_delivered` or `completed`), not only the literal `delivered` (TrustCart D3a).

use rust_decimal::Decimal;
use serde::Serialize;

/// `GET /api/loyalty/kpis`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Kpis {
    /// Every customer row, guests and deleted ones included (as TrustCart counts).
    pub total_customers: i64,
    /// % of customers with a delivered order who have two or more.
    pub first_to_repeat_percentage: Decimal,
    /// % of customers with a membership tier above `none`.
    pub member_conversion_rate: Decimal,
    /// Delivered orders per customer (4 decimals).
    pub avg_orders_per_customer: Decimal,
    /// Referrals per customer (4 decimals).
    pub avg_referrals_per_customer: Decimal,
    /// Delivered order value per customer, taka.
    pub avg_customer_lifetime_value: Decimal,
    /// Referrals completed.
    pub completed_referrals: i64,
    /// Taka credited to referrers for referrals (the referred side's welcome bonuses are
    /// counted separately, unlike TrustCart, D8).
    pub total_referral_rewards_paid: Decimal,
    /// Taka credited to referred customers as welcome bonuses.
    pub total_referral_welcome_bonuses_paid: Decimal,
}

/// `GET /api/loyalty/dashboard`: the KPIs and the membership counts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// The KPIs.
    #[serde(flatten)]
    pub kpis: Kpis,
    /// Customers at the silver tier.
    pub silver_members: i64,
    /// Customers at the gold tier.
    pub gold_members: i64,
    /// Customers at the permanent tier.
    pub permanent_members: i64,
    /// Active grocery subscriptions of live customers (TrustCart's dashboard reads it).
    pub active_subscriptions: i64,
    /// Referrals not yet completed: invited or joined (TrustCart counted only invited, D8).
    pub pending_referrals: i64,
}

super::sql_enum! {
    /// What a KPI counter counts (`kpi_totals.metric`, `kpi_deltas.metric`).
    pub enum Metric = "kpi_metric" {
        /// Every customer row.
        Customers = "customers",
        /// Successful orders of a customer.
        DeliveredOrders = "delivered_orders",
        /// Their total amount.
        DeliveredValue = "delivered_value",
        /// Customers with at least one successful order.
        DeliveredCustomers = "delivered_customers",
        /// Customers with at least two.
        RepeatCustomers = "repeat_customers",
        /// Every referral.
        Referrals = "referrals",
        /// Referrals completed.
        CompletedReferrals = "completed_referrals",
        /// Referrals invited or joined.
        PendingReferrals = "pending_referrals",
        /// Posted referral credits to referrers.
        ReferrerRewardsPaid = "referrer_rewards_paid",
        /// Posted referral credits to referred customers.
        ReferredBonusesPaid = "referred_bonuses_paid",
        /// Customers at the silver tier.
        SilverMembers = "silver_members",
        /// At the gold tier.
        GoldMembers = "gold_members",
        /// At the permanent tier.
        PermanentMembers = "permanent_members",
        /// Active subscription lists of customers not deleted.
        ActiveSubscriptions = "active_subscriptions",
    }
}
