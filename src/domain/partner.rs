//! Referral partners (influencers, communities, delivery riders, affiliates), what they
//! earn, and the report of what they brought, in TrustCart's snake_case shapes.

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::money::{Money, Percent};
use super::order::OrderStatus;
use super::time::Timestamp;

super::sql_enum! {
    /// What kind of partner a code belongs to (`referral_partners.partner_type`).
    pub enum PartnerType = "partner_type" {
        /// A creator who shares the code with their audience (guide 4.10).
        Influencer = "influencer",
        /// A Facebook or WhatsApp group, or its admin (guide 4.9).
        Community = "community",
        /// A delivery rider, whose code is printed on the cards handed out at the door
        /// (guide 4.11).
        DeliveryRider = "delivery_rider",
        /// Anyone else who brings customers for a cut (and every free-text type of old).
        Affiliate = "affiliate",
    }
}

super::sql_enum! {
    /// How a partner's commissions are paid (`referral_partners.payout_method`).
    pub enum PayoutMethod = "partner_payout_method" {
        /// A bKash wallet: the account is a Bangladeshi mobile number.
        Bkash = "bkash",
        /// A Nagad wallet: the account is a Bangladeshi mobile number.
        Nagad = "nagad",
        /// A bank transfer: the account is free text (bank, branch, account number).
        Bank = "bank",
    }
}

impl PayoutMethod {
    /// Whether the account is a mobile wallet number.
    pub fn is_wallet(self) -> bool {
        !matches!(self, Self::Bank)
    }
}

super::sql_enum! {
    /// Which orders of a partner's customer earn the partner a commission.
    pub enum CommissionScope = "commission_scope" {
        /// The customer's first successful order only.
        FirstOrder = "first_order",
        /// Every successful order placed within `commission_days` of the attribution.
        EveryOrder = "every_order",
    }
}

/// A referral partner, in TrustCart's snake_case shape (`id`, `code`, `partner_type`,
/// `name`, `is_active`, `created_at`), with Bondhu's keys added.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Partner {
    /// Partner id.
    pub id: Uuid,
    /// The code, as spelled when created (matched case-insensitively).
    pub code: String,
    /// `influencer`, `community`, `delivery_rider` or `affiliate`.
    pub partner_type: PartnerType,
    /// Display name.
    pub name: Option<String>,
    /// Inactive codes attribute nobody, and earn nothing.
    pub is_active: bool,
    /// Created.
    pub created_at: Timestamp,
    /// The campaign customers brought by this partner get (else the channel's or default);
    /// its `reward_hold` is the commissions' hold too.
    pub campaign_id: Option<Uuid>,
    /// The partner's phone (E.164). Orders from it earn nothing (self-dealing).
    pub contact_phone: Option<String>,
    /// `bkash`, `nagad` or `bank`; set together with `payout_account`.
    pub payout_method: Option<PayoutMethod>,
    /// The wallet number (E.164) or the bank account text.
    pub payout_account: Option<String>,
    /// Fixed taka per delivered order (or `commission_percent`, never both).
    #[schema(value_type = Option<f64>)]
    pub commission_amount: Option<Money>,
    /// Percent of what the order kept (its total less refunds).
    #[schema(value_type = Option<f64>)]
    pub commission_percent: Option<Percent>,
    /// The most a percentage commission pays per order.
    #[schema(value_type = Option<f64>)]
    pub commission_cap: Option<Money>,
    /// `first_order` or `every_order`.
    pub commission_scope: CommissionScope,
    /// Orders placed within this many days of the customer's attribution earn (null: no
    /// limit, `first_order` only).
    pub commission_days: Option<i32>,
    /// The partner's own customer account: its orders, phones, devices and addresses are
    /// the partner's own (self-dealing).
    pub customer_id: Option<i32>,
    /// What the partner owes back (commissions clawed back after they were paid); taken
    /// from the next payout batch.
    #[schema(value_type = f64)]
    pub owed_amount: Decimal,
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
