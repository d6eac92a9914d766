//! Referral partners (influencers, communities, shops' own codes) and the report of what
//! they brought, in TrustCart's snake_case shapes.

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::order::OrderStatus;
use super::time::Timestamp;

/// The `partner_type` of a delivery rider, whose code is printed on the cards riders hand
/// out at the door (guide 4.11). Partner types are free text; this one has a meaning.
pub const DELIVERY_RIDER: &str = "delivery_rider";

/// A referral partner (influencer, community, shop code), in TrustCart's snake_case shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Partner {
    /// Partner id.
    pub id: Uuid,
    /// The code, as spelled when created (matched case-insensitively).
    pub code: String,
    /// `influencer`, `community`, `shop`, …
    pub partner_type: String,
    /// Display name.
    pub name: Option<String>,
    /// Inactive codes attribute nobody.
    pub is_active: bool,
    /// Created.
    pub created_at: Timestamp,
    /// The campaign customers brought by this partner get (else the channel's or default).
    pub campaign_id: Option<Uuid>,
}

/// A partner's funnel over a time window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerFunnel {
    /// Events carrying the partner's code.
    pub total_events: i64,
    /// Clicks on the partner's links and QR codes.
    pub clicked: i64,
    /// Invitations (partners do not invite; kept for TrustCart's report shape).
    pub invited: i64,
    /// Customers who registered with the code.
    pub registered: i64,
    /// Of those, referrals completed by a delivered first order.
    pub completed: i64,
    /// Rewards issued for those referrals.
    pub reward_credited: i64,
    /// Distinct customers brought.
    pub unique_referred_customers: i64,
    /// Orders placed by those customers.
    pub attributed_orders: i64,
}

/// An order of a partner-attributed customer, in TrustCart's report shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerOrder {
    /// Order id.
    pub id: i32,
    /// The shop's number.
    pub sales_order_number: String,
    /// The customer.
    pub customer_id: Option<i32>,
    /// Total, as a numeric string.
    #[serde(serialize_with = "crate::domain::money::money_string")]
    #[schema(value_type = String)]
    pub total_amount: Decimal,
    /// Order discounts are not recorded by Bondhu: always `null` (kept for TrustCart's shape).
    #[schema(value_type = Option<String>)]
    pub discount_amount: Option<String>,
    /// The coupon the order carried, if any.
    pub offer_code: Option<String>,
    /// TrustCart's offer id: always `null` (Bondhu issues its own coupons).
    pub offer_id: Option<i32>,
    /// Status.
    pub status: OrderStatus,
    /// Placed.
    pub created_at: Timestamp,
    /// Delivered.
    pub delivered_at: Option<Timestamp>,
}

/// TrustCart's partner report: the funnel, revenue and orders of the customers a partner
/// brought, in a window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerReport {
    /// The partner's code.
    pub partner_code: String,
    /// The window.
    pub window: ReportWindow,
    /// Clicks, signups, completions, rewards.
    pub funnel: PartnerFunnel,
    /// Successful orders of the partner's customers.
    pub revenue: PartnerRevenue,
    /// The newest orders of the partner's customers.
    pub orders: Vec<PartnerOrder>,
    /// The partner's signups in the window by the UTM source and campaign of the link
    /// they came through (Bondhu; a community partner's groups and posts).
    pub by_utm: Vec<UtmReportLine>,
}

/// One (utm_source, utm_campaign) line of a partner report: the customers who signed up
/// with the partner's code in the window through links so tagged, and how many of them
/// have had their first order delivered since (their referral is completed). `null`
/// source and campaign: signups without tags.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UtmReportLine {
    /// `utm_source`, or `null`.
    pub utm_source: Option<String>,
    /// `utm_campaign`, or `null`.
    pub utm_campaign: Option<String>,
    /// Customers who signed up.
    pub signups: i64,
    /// Of those, customers whose first order was delivered (and not reversed).
    pub delivered_first_orders: i64,
}

/// The most `by_utm` lines a partner report lists (most signups first): tags come from
/// public URLs, so their variety is not bounded by anything else.
pub const MAX_UTM_LINES: i64 = 100;

/// A report's time window (either end open).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportWindow {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
}

/// Revenue brought by a partner.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerRevenue {
    /// Successful orders.
    pub order_count: i64,
    /// Their total, taka.
    #[schema(value_type = f64)]
    pub total_revenue: Decimal,
    /// Order discounts are not recorded by Bondhu: always `null`.
    #[schema(value_type = Option<f64>)]
    pub total_discount: Option<Decimal>,
}
