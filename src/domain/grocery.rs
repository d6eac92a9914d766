//! Grocery lists, monthly subscriptions, price locks and a member's benefits summary, in
//! TrustCart's shapes (entities camelCase, raw-SQL rows snake_case with numerics as
//! strings).
//!
//! The one home of "when is a subscription next due" ([`next_order_date`]). "Today" is
//! the shop's calendar day in Dhaka, from the database (`crate::db::dhaka_today`), as for
//! reminders.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::money::{money_string, money_string_opt};
use super::time::Timestamp;
use crate::error::Problems;

/// The days of the month a subscription may be ordered on: 1–28, so that every month,
/// February included, has the day.
pub const SUBSCRIPTION_DAYS: std::ops::RangeInclusive<i32> = 1..=28;

/// The first date on or after `today` that falls on day `day` of its month: today itself
/// when today is that day (a subscription set up on its day is due at once).
pub fn next_order_date(day: SubscriptionDay, today: NaiveDate) -> NaiveDate {
    let day = day.get() as u32;
    if today.day() <= day {
        today.with_day(day).expect("days 1-28 exist in every month")
    } else {
        let (year, month) = if today.month() == 12 {
            (today.year() + 1, 1)
        } else {
            (today.year(), today.month() + 1)
        };
        NaiveDate::from_ymd_opt(year, month, day).expect("days 1-28 exist in every month")
    }
}

/// A validated subscription day (see [`SUBSCRIPTION_DAYS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionDay(i32);

impl SubscriptionDay {
    /// `day` if it is 1–28.
    pub fn new(day: i64) -> Option<Self> {
        i32::try_from(day)
            .ok()
            .filter(|d| SUBSCRIPTION_DAYS.contains(d))
            .map(Self)
    }

    /// The day of the month.
    pub fn get(self) -> i32 {
        self.0
    }
}

/// The most units of one product a list may hold.
pub const MAX_QUANTITY: i64 = 10_000;

/// Records a problem against `quantity` unless it is 1–[`MAX_QUANTITY`]; the checked value.
pub fn check_quantity(problems: &mut Problems, quantity: i64) -> i32 {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        quantity as i32
    } else {
        problems.add(
            "quantity",
            format!("must be a whole number from 1 to {MAX_QUANTITY}"),
        );
        0
    }
}

/// The longest list name.
pub const MAX_LIST_NAME: usize = 100;

/// A grocery list, TrustCart's entity shape.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroceryList {
    /// Id.
    pub id: i32,
    /// Whose list.
    pub customer_id: i32,
    /// The name the customer gave it.
    pub list_name: String,
    /// Ordered every month on `subscriptionDay`.
    pub is_subscription: bool,
    /// Day of the month (1–28) a subscription is ordered on.
    pub subscription_day: Option<i32>,
    /// The Dhaka date a subscription is next due (`YYYY-MM-DD`); null for a plain list.
    #[schema(value_type = Option<String>, format = Date)]
    pub next_order_date: Option<NaiveDate>,
    /// Orders placed from this list.
    pub total_orders_placed: i32,
    /// Whether the list is in use.
    pub is_active: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A product on a grocery list, entity shape.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroceryListItem {
    /// Id.
    pub id: i32,
    /// The list.
    pub grocery_list_id: i32,
    /// The shop's product id.
    pub product_id: i32,
    /// Units, 1–10000.
    pub quantity: i32,
    /// What the customer last paid for one unit (taka, a decimal string as TrustCart's
    /// entity sends it), if known.
    #[serde(serialize_with = "money_string_opt")]
    #[schema(value_type = Option<String>)]
    pub last_purchase_price: Option<Decimal>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A member's locked price for a product, entity shape.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceLock {
    /// Id.
    pub id: i32,
    /// The member.
    pub customer_id: i32,
    /// The shop's product id.
    pub product_id: i32,
    /// The most the member pays for one unit (taka, decimal string).
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub locked_price: Decimal,
    /// Whether the lock is in force.
    pub is_active: bool,
    /// When the lock was made: only orders placed after it count towards savings.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// `GET price-locks/:customerId/savings`: TrustCart's raw-SQL shape, both as strings.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PriceLockSavings {
    /// Active locks (a bigint count, so a string).
    pub total_locked_products: String,
    /// Σ (unit price − locked price) × quantity over the member's delivered order lines of
    /// a locked product, priced above the lock, on orders placed after it (taka string).
    pub total_savings: String,
}

/// `GET benefits/:customerId`: a member's benefits summary, snake_case as TrustCart's view
/// `member_benefits_summary`; `numeric` and `bigint` values are strings, `integer` columns
/// numbers (node-pg's rules).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BenefitsSummary {
    /// The member.
    pub customer_id: i32,
    /// `silver`, `gold` or `permanent`.
    pub membership_tier: super::loyalty::Tier,
    /// The permanent member's card, if any.
    pub permanent_card_number: Option<String>,
    /// Discount on orders, percent (decimal string).
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub discount_percentage: Decimal,
    /// Free deliveries a month.
    pub free_delivery_count: i32,
    /// Free deliveries used.
    pub free_delivery_used: i32,
    /// Free deliveries left (never below zero).
    pub free_deliveries_left: i32,
    /// Whether the tier may lock prices.
    pub price_lock_enabled: bool,
    /// Active price locks (bigint count, a string).
    pub active_price_locks: String,
    /// Wallet balance, taka (decimal string).
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub wallet_balance: Decimal,
    /// Referrals of theirs that completed (bigint count, a string).
    pub completed_referrals: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_next_order_date_is_on_or_after_today() {
        let day = |d| SubscriptionDay::new(d).unwrap();
        assert_eq!(
            next_order_date(day(15), date(2026, 3, 10)),
            date(2026, 3, 15)
        );
        assert_eq!(
            next_order_date(day(15), date(2026, 3, 15)),
            date(2026, 3, 15)
        );
        assert_eq!(
            next_order_date(day(15), date(2026, 3, 16)),
            date(2026, 4, 15)
        );
        assert_eq!(next_order_date(day(1), date(2026, 12, 2)), date(2027, 1, 1));
        // Day 28 exists in February, even in a non-leap year.
        assert_eq!(
            next_order_date(day(28), date(2027, 1, 31)),
            date(2027, 2, 28)
        );
        assert_eq!(
            next_order_date(day(28), date(2027, 2, 28)),
            date(2027, 2, 28)
        );
    }

    #[test]
    fn only_days_one_to_twenty_eight() {
        assert!(SubscriptionDay::new(0).is_none());
        assert!(SubscriptionDay::new(29).is_none());
        assert!(SubscriptionDay::new(31).is_none());
        assert!(SubscriptionDay::new(-1).is_none());
        assert!(SubscriptionDay::new(i64::MAX).is_none());
        assert_eq!(SubscriptionDay::new(28).unwrap().get(), 28);
    }
}
