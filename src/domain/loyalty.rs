//! Points, coupons and membership tiers, in TrustCart's entity shapes.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// A customer's points balance.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Points {
    /// Row id.
    pub id: i32,
    /// The customer.
    pub customer_id: i32,
    /// Spendable points.
    pub active_points: i32,
    /// Points earned but still in their hold (the return window) or in review: shown,
    /// never spendable, and not part of `activePoints`.
    pub pending_points: i32,
    /// All points ever earned.
    pub lifetime_earned: i32,
    /// All points ever redeemed.
    pub lifetime_redeemed: i32,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// One movement in the points ledger (append-only).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointTransaction {
    /// Id.
    pub id: i32,
    /// The customer.
    pub customer_id: i32,
    /// Makes the movement happen once per customer.
    pub idempotency_key: String,
    /// `earn` or `redeem`.
    pub transaction_type: PointsDirection,
    /// Points moved, always positive.
    pub points: i32,
    /// Why (`referral`, `purchase`, `bonus`, …).
    pub source: String,
    /// The referral, order or request it belongs to.
    pub reference_id: Option<i32>,
    /// Statement text.
    pub description: Option<String>,
    /// The balance right after.
    pub balance_after: i32,
    /// When.
    pub created_at: Timestamp,
}

/// A single-use coupon or free product assigned to one customer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    /// Id.
    pub id: i32,
    /// The code to type at checkout.
    pub code: String,
    /// The only customer who can use it.
    pub customer_id: i32,
    /// `discount` or `free_product`.
    pub kind: CouponKind,
    /// `fixed` (taka) or `percent`, for discounts.
    pub discount_type: Option<DiscountType>,
    /// Taka off, or percent off.
    pub discount_value: Option<Decimal>,
    /// The most a percent discount takes off.
    pub max_discount: Option<Decimal>,
    /// The free product's id in the shop.
    pub product_id: Option<i32>,
    /// The free product's name.
    pub product_name: Option<String>,
    /// Valid only on the customer's first order.
    pub first_order_only: bool,
    /// Usable from.
    pub valid_from: Timestamp,
    /// Usable until.
    pub valid_until: Option<Timestamp>,
    /// `active`, `redeemed` or `void`.
    pub status: CouponStatus,
    /// The order that redeemed it.
    pub redeemed_order_id: Option<i32>,
    /// When it was redeemed.
    pub redeemed_at: Option<Timestamp>,
    /// The referral that earned it.
    pub referral_id: Option<i32>,
    /// Issued.
    pub created_at: Timestamp,
}

/// A customer's membership, in TrustCart's entity shape.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    /// Id.
    pub id: i32,
    /// The customer.
    pub customer_id: i32,
    /// `none`, `silver`, `gold` or `permanent`.
    pub membership_tier: Tier,
    /// `PERM-{id}-{code}` for permanent members.
    pub permanent_card_number: Option<String>,
    /// Discount on orders, percent.
    pub discount_percentage: Decimal,
    /// Free deliveries a month.
    pub free_delivery_count: i32,
    /// Free deliveries used.
    pub free_delivery_used: i32,
    /// Delivered order value in the current calendar month (Dhaka time).
    pub current_month_spend: Decimal,
    /// Delivered order value ever.
    pub total_monthly_spend: Decimal,
    /// The customer's last order.
    pub last_order_date: Option<Timestamp>,
    /// Prices locked at the member's last purchase.
    pub price_lock_enabled: bool,
    /// Birthday gift sent this year.
    pub birthday_gift_sent: bool,
    /// Eid gift sent this year.
    pub eid_gift_sent: bool,
    /// When the tier was reached.
    pub tier_achieved_at: Option<Timestamp>,
    /// When the tier lapses.
    pub tier_expires_at: Option<Timestamp>,
    /// Who set the tier: `manual`, `evaluation` or `referral`.
    pub tier_source: Option<TierSource>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

super::sql_enum! {
    /// Membership tiers, lowest first: the order is the ladder (the database's
    /// `membership_tier` compares the same way), so "higher" is `>`.
    pub enum Tier = "membership_tier" {
        /// No membership benefits.
        None = "none",
        /// Silver.
        Silver = "silver",
        /// Gold (price locks).
        Gold = "gold",
        /// Permanent (a card number).
        Permanent = "permanent",
    }
}

super::sql_enum! {
    /// Who set a membership tier.
    pub enum TierSource = "tier_source" {
        /// An operator.
        Manual = "manual",
        /// An evaluation of delivered orders.
        Evaluation = "evaluation",
        /// A referral campaign's VIP threshold.
        Referral = "referral",
    }
}

super::sql_enum! {
    /// The direction of a points movement.
    pub enum PointsDirection = "points_transaction_type" {
        /// Points in.
        Earn = "earn",
        /// Points out.
        Redeem = "redeem",
    }
}

super::sql_enum! {
    /// What a coupon gives.
    pub enum CouponKind = "coupon_kind" {
        /// Money off an order.
        Discount = "discount",
        /// A free product with an order.
        FreeProduct = "free_product",
    }
}

super::sql_enum! {
    /// How a discount is counted.
    pub enum DiscountType = "discount_type" {
        /// Taka off.
        Fixed = "fixed",
        /// Percent off, up to a maximum.
        Percent = "percent",
    }
}

super::sql_enum! {
    /// A coupon's state.
    pub enum CouponStatus = "coupon_status" {
        /// Can be used.
        Active = "active",
        /// Used by an order.
        Redeemed = "redeemed",
        /// Withdrawn.
        Void = "void",
    }
}

super::sql_enum! {
    /// Why a coupon cannot be used, as the database's `coupon_refusal` decides it for both
    /// the check at checkout and the redemption at delivery.
    pub enum CouponRefusal = "coupon_refusal" {
        /// No coupon has this code.
        NotFound = "not_found",
        /// It belongs to another customer.
        NotYours = "not_yours",
        /// An order already used it.
        AlreadyRedeemed = "already_redeemed",
        /// It was withdrawn.
        Void = "void",
        /// Its validity has not started.
        NotYetValid = "not_yet_valid",
        /// Its validity ended.
        Expired = "expired",
        /// It is for a first order, and the customer already had one delivered.
        NotFirstOrder = "not_first_order",
    }
}

/// The answer to "does this coupon apply to this order?".
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CouponCheck {
    /// Whether the coupon applies.
    pub valid: bool,
    /// Why not.
    pub reason: Option<CouponRefusal>,
    /// `discount` or `free_product`.
    pub kind: Option<CouponKind>,
    /// Taka off this order.
    #[schema(value_type = Option<f64>)]
    pub discount: Option<Decimal>,
    /// The free product's id.
    pub product_id: Option<i32>,
    /// The free product's name.
    pub product_name: Option<String>,
}

/// Tier thresholds: delivered orders or delivered spend reach a tier.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
#[expect(
    missing_docs,
    reason = "one field per column; the names are the documentation"
)]
pub struct Thresholds {
    pub silver_orders: i64,
    #[schema(value_type = f64)]
    pub silver_spend: Decimal,
    pub gold_orders: i64,
    #[schema(value_type = f64)]
    pub gold_spend: Decimal,
    pub permanent_orders: i64,
    #[schema(value_type = f64)]
    pub permanent_spend: Decimal,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            silver_orders: 3,
            silver_spend: Decimal::from(5000),
            gold_orders: 6,
            gold_spend: Decimal::from(12000),
            permanent_orders: 12,
            permanent_spend: Decimal::from(25000),
        }
    }
}

/// What an evaluation found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// The customer.
    pub customer_id: i32,
    /// Delivered orders counted.
    pub total_orders: i64,
    /// Their value.
    #[schema(value_type = f64)]
    pub total_spend: Decimal,
    /// The tier now.
    pub tier: Tier,
    /// The permanent card, if any.
    pub permanent_card_number: Option<String>,
    /// The thresholds used.
    pub thresholds: Thresholds,
}
