//! Referral partners (influencers, communities, delivery riders, affiliates) and what they
//! earn, in TrustCart's snake_case shapes. The report of what they brought is
//! [`super::partner_report`].

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::money::{Money, Percent};
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

/// A report's time window (either end open).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportWindow {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
}
