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
