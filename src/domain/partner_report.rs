//! A partner's report (TrustCart route 32, and the partner's own `GET
//! /api/partners/me/report`): TrustCart's snake_case keys with correct numbers, and
//! Bondhu's additions (the signup funnel, what became of the orders, the referred
//! customers' lifetime value, the partner's commissions).
//!
//! Every count has one definition, written on its field and in docs/ARCHITECTURE.md
//! ("Partner reports"). The window is `from` inclusive, `to` exclusive; either end may be
//! open. Three things are windowed, each by its own moment:
//! - **events** (clicks) by when they happened;
//! - **signups** (the partner's referrals) by when the customer signed up with the code: the
//!   funnel after the clicks, `by_utm` and `referred_customers` follow these customers over
//!   their whole history since;
//! - **commissions** by when they were earned (the entry's creation, at the delivery);
//! - **orders** (`attributed_orders`, `revenue`, `orders`, `order_outcomes`) by when they were
//!   placed, of every customer the partner brought, counting only orders placed at or after
//!   the customer signed up with the partner's code (earlier orders were not the partner's
//!   doing).
//!
//! Money is taka with its exact digits (a JSON number, as TrustCart's `revenue`), counts are
//! integers, rates are decimals with four places (a JSON number), `null` when undefined.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::order::OrderStatus;
use super::partner::ReportWindow;
use super::time::Timestamp;

super::sql_enum! {
    /// What became of an order (`order_result(status, delivered_at)` in SQL, the one home of
    /// the rule): from its status now and whether it was ever delivered.
    pub enum OrderResult = "order_result" {
        /// In a successful status now (`delivered`, `partial_delivered`, `completed`).
        Delivered = "delivered",
        /// Delivered, then returned or cancelled: it came back after the customer took it.
        Returned = "returned",
        /// `returned` without ever being delivered: refused at the door (or the customer
        /// could not be reached), the courier's return to the merchant.
        Refused = "refused",
        /// `cancelled` or `admin_cancelled` before any delivery.
        Cancelled = "cancelled",
        /// Anything else: pending, on its way, on hold.
        Open = "open",
    }
}

/// A sum of taka written with its two places (`0.00`, not `0`: PostgreSQL's zero has no
/// digits to carry its scale). The sums are of two-place amounts, so nothing is rounded.
pub fn taka(mut sum: Decimal) -> Decimal {
    sum.rescale(2);
    sum
}

/// The places a rate is rounded to (half away from zero).
pub const RATE_PLACES: u32 = 4;

/// `part / whole` rounded to [`RATE_PLACES`] places, `None` when `whole` is zero (no
/// order to have a rate of).
pub fn rate(part: i64, whole: i64) -> Option<Decimal> {
    (whole > 0).then(|| {
        let mut rate = (Decimal::from(part) / Decimal::from(whole))
            .round_dp_with_strategy(RATE_PLACES, RoundingStrategy::MidpointAwayFromZero);
        // Always four places on the wire (0.2500, not 0.25): a fixed-precision number.
        rate.rescale(RATE_PLACES);
        rate
    })
}

/// A partner's funnel over a window. TrustCart's keys first (with correct numbers, D9),
/// then Bondhu's stages of the window's signups.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerFunnel {
    /// Events carrying the partner's code in the window (clicks and attributions).
    pub total_events: i64,
    /// Clicks on the partner's links and QR codes in the window.
    pub clicked: i64,
    /// Invitations: partners do not invite, always 0 (kept for TrustCart's shape).
    pub invited: i64,
    /// Customers who signed up with the code in the window.
    pub registered: i64,
    /// The partner's referrals completed in the window (by their completion time) and still
    /// completed: a first order delivered, and not returned since.
    pub completed: i64,
    /// Rewards of the partner's referrals released (credited) in the window and not clawed
    /// back since.
    pub reward_credited: i64,
    /// Distinct customers who signed up with the code in the window (one referral per
    /// customer, so equal to `registered`).
    pub unique_referred_customers: i64,
    /// Orders placed in the window by the partner's customers, whatever became of them.
    pub attributed_orders: i64,
    /// Of the window's signups, those who have placed an order since signing up.
    pub first_orders: i64,
    /// Of those, the customers whose first order was delivered (even if it came back later).
    pub delivered: i64,
    /// Of those, the customers whose delivered first order came back (`returned` of
    /// [`OrderResult`]).
    pub returned: i64,
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

/// Revenue brought by a partner: the orders placed in the window that are successful now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerRevenue {
    /// Orders placed in the window and in a successful status now.
    pub order_count: i64,
    /// What they kept: their totals less what was refunded of them (`order_kept_value`).
    #[schema(value_type = f64)]
    pub total_revenue: Decimal,
    /// Order discounts are not recorded by Bondhu: always `null`.
    #[schema(value_type = Option<f64>)]
    pub total_discount: Option<Decimal>,
}

/// What became of the orders placed in the window by the partner's customers, and the
/// refusal and return rates (Bondhu).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderOutcomes {
    /// Orders placed in the window (= `funnel.attributed_orders`): the sum of the five below.
    pub orders: i64,
    /// Successful now.
    pub delivered: i64,
    /// Delivered, then came back.
    pub returned: i64,
    /// Came back from the door without being delivered.
    pub refused: i64,
    /// Cancelled before any delivery.
    pub cancelled: i64,
    /// Not finished yet (pending, on its way, on hold).
    pub open: i64,
    /// `refused / (delivered + returned + refused)`: of the parcels that reached the
    /// customer's door, the share refused there. Four places; `null` when none did.
    #[schema(value_type = Option<f64>)]
    pub refusal_rate: Option<Decimal>,
    /// `returned / (delivered + returned)`: of the parcels the customer took, the share
    /// that came back. Four places; `null` when none was taken.
    #[schema(value_type = Option<f64>)]
    pub return_rate: Option<Decimal>,
}

impl OrderOutcomes {
    /// The outcomes of these counts, with their rates.
    pub fn new(delivered: i64, returned: i64, refused: i64, cancelled: i64, open: i64) -> Self {
        Self {
            orders: delivered + returned + refused + cancelled + open,
            delivered,
            returned,
            refused,
            cancelled,
            open,
            refusal_rate: rate(refused, delivered + returned + refused),
            return_rate: rate(returned, delivered + returned),
        }
    }
}

/// The customers who signed up with the partner's code in the window, over their whole
/// history since they signed up (Bondhu).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReferredCustomers {
    /// How many (= `funnel.registered`).
    pub customers: i64,
    /// Their orders since signing up that are successful now.
    pub orders: i64,
    /// Lifetime value: what those orders kept, their totals less refunds (`order_kept_value`),
    /// taka.
    #[schema(value_type = f64)]
    pub lifetime_value: Decimal,
    /// `lifetime_value / customers`, rounded to the poisha; `null` without customers.
    #[schema(value_type = Option<f64>)]
    pub average_lifetime_value: Option<Decimal>,
}

impl ReferredCustomers {
    /// The cohort of `customers` with `orders` worth `lifetime_value`.
    pub fn new(customers: i64, orders: i64, lifetime_value: Decimal) -> Self {
        let lifetime_value = taka(lifetime_value);
        Self {
            customers,
            orders,
            lifetime_value,
            average_lifetime_value: (customers > 0).then(|| {
                let mut average = (lifetime_value / Decimal::from(customers))
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                average.rescale(2);
                average
            }),
        }
    }
}

/// The partner's commissions earned in the window (ledger entries created in it, one per
/// qualifying delivered order), by their state now, taka (Bondhu). Voided, clawed back and
/// skipped entries are money the partner is not owed and are not shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommissionTotals {
    /// Earned and still in the campaign's hold.
    #[schema(value_type = f64)]
    pub pending: Decimal,
    /// Released: owed to the partner, not yet paid.
    #[schema(value_type = f64)]
    pub released: Decimal,
    /// Paid out (marked paid in a payout batch).
    #[schema(value_type = f64)]
    pub paid: Decimal,
}

/// TrustCart's partner report, with Bondhu's additions after its keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartnerReport {
    /// The partner's code.
    pub partner_code: String,
    /// The window.
    pub window: ReportWindow,
    /// Clicks, signups, completions, rewards, first orders.
    pub funnel: PartnerFunnel,
    /// Successful orders of the partner's customers.
    pub revenue: PartnerRevenue,
    /// The newest orders placed in the window by the partner's customers.
    pub orders: Vec<PartnerOrder>,
    /// The partner's signups in the window by the UTM source and campaign of the link
    /// they came through (Bondhu; a community partner's groups and posts).
    pub by_utm: Vec<UtmReportLine>,
    /// What became of the window's orders, and the refusal and return rates (Bondhu).
    pub order_outcomes: OrderOutcomes,
    /// The window's signups over their whole history: lifetime value and orders (Bondhu).
    pub referred_customers: ReferredCustomers,
    /// Commissions earned in the window: pending, released and paid (Bondhu).
    pub commission: CommissionTotals,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_four_places_and_no_zero_denominator() {
        assert_eq!(rate(1, 3), Some(Decimal::new(3333, 4)));
        assert_eq!(rate(2, 3), Some(Decimal::new(6667, 4)));
        assert_eq!(rate(1, 8).unwrap().to_string(), "0.1250");
        assert_eq!(rate(0, 5).unwrap().to_string(), "0.0000");
        assert_eq!(rate(5, 5).unwrap().to_string(), "1.0000");
        assert_eq!(rate(0, 0), None);
    }

    #[test]
    fn outcomes_rates_use_their_own_denominators() {
        let outcomes = OrderOutcomes::new(6, 1, 2, 3, 4);
        assert_eq!(outcomes.orders, 16);
        // 2 of the 9 parcels that reached a door were refused there; 1 of the 7 taken came back.
        assert_eq!(outcomes.refusal_rate.unwrap().to_string(), "0.2222");
        assert_eq!(outcomes.return_rate.unwrap().to_string(), "0.1429");
        let none = OrderOutcomes::new(0, 0, 0, 2, 1);
        assert_eq!((none.refusal_rate, none.return_rate), (None, None));
    }

    #[test]
    fn the_average_lifetime_value_is_rounded_to_the_poisha() {
        let cohort = ReferredCustomers::new(3, 4, Decimal::new(100000, 2));
        assert_eq!(cohort.average_lifetime_value.unwrap().to_string(), "333.33");
        assert_eq!(
            ReferredCustomers::new(0, 0, Decimal::ZERO).average_lifetime_value,
            None
        );
    }
}
