//! Orders as the shop's system knows them, and their statuses.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use super::money::Amount;
use super::time::Timestamp;
use crate::error::Problems;

/// TrustCart's `order_status_enum`, value for value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type, Serialize, utoipa::ToSchema)]
#[sqlx(type_name = "order_status_enum", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[expect(
    missing_docs,
    reason = "the variants are TrustCart's status names, documented there"
)]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Returned,
    Approved,
    Hold,
    Printing,
    Sent,
    Completed,
    InReview,
    InTransit,
    Picked,
    PartialDelivered,
    Unknown,
    AdminCancelled,
    PickupFailed,
    CustomerHold,
    CourierHold,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 21] = [
        Self::Pending,
        Self::Confirmed,
        Self::Processing,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Returned,
        Self::Approved,
        Self::Hold,
        Self::Printing,
        Self::Sent,
        Self::Completed,
        Self::InReview,
        Self::InTransit,
        Self::Picked,
        Self::PartialDelivered,
        Self::Unknown,
        Self::AdminCancelled,
        Self::PickupFailed,
        Self::CustomerHold,
        Self::CourierHold,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Returned => "returned",
            Self::Approved => "approved",
            Self::Hold => "hold",
            Self::Printing => "printing",
            Self::Sent => "sent",
            Self::Completed => "completed",
            Self::InReview => "in_review",
            Self::InTransit => "in_transit",
            Self::Picked => "picked",
            Self::PartialDelivered => "partial_delivered",
            Self::Unknown => "unknown",
            Self::AdminCancelled => "admin_cancelled",
            Self::PickupFailed => "pickup_failed",
            Self::CustomerHold => "customer_hold",
            Self::CourierHold => "courier_hold",
        }
    }
}

super::sql_enum! {
    /// What recording an order change did (`apply_order_status`).
    pub enum OrderOutcome = "order_outcome" {
        /// Recorded.
        Applied = "applied",
        /// Only a status change was asked for, and the order is unknown.
        OrderNotFound = "order_not_found",
        /// The order belongs to another customer.
        CustomerConflict = "customer_conflict",
        /// No live customer has the id the order names.
        CustomerNotFound = "customer_not_found",
    }
}

super::sql_enum! {
    /// What recording a refund did (`refund_order`).
    pub enum RefundOutcome = "refund_outcome" {
        /// Recorded now.
        Refunded = "refunded",
        /// Recorded before under the same key, with the same amount and reason.
        Replayed = "replayed",
        /// The key was used before for a different refund; nothing changed.
        KeyConflict = "key_conflict",
        /// No such order.
        OrderNotFound = "order_not_found",
        /// The refunds would exceed the order's total; nothing changed.
        ExceedsTotal = "exceeds_total",
    }
}

/// A status name that is not in [`OrderStatus`].
#[derive(Debug, thiserror::Error)]
#[error("unknown order status; expected one of: {}", OrderStatus::ALL.map(OrderStatus::as_str).join(", "))]
pub struct UnknownOrderStatus;

impl FromStr for OrderStatus {
    type Err = UnknownOrderStatus;

    /// Case-insensitive; `-` and spaces read as `_` (couriers write `Partial-Delivered`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or(UnknownOrderStatus)
    }
}

impl<'de> Deserialize<'de> for OrderStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// One line of an order, as the shop reports it (`items` of `PUT /api/orders/:id`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLine {
    /// The shop's product id (positive).
    pub product_id: i32,
    /// Its name as the customer saw it (1–200 characters).
    pub product_name: String,
    /// The shop's category id, if any (positive).
    pub category_id: Option<i32>,
    /// How many (1–100,000).
    pub quantity: i32,
    /// Taka per unit: a JSON number ≥ 0 with at most two decimals.
    #[schema(value_type = f64)]
    pub unit_price: Amount,
}

impl OrderLine {
    /// The most lines one order may carry.
    pub const MAX_LINES: usize = 500;

    /// Every problem of line `index` (fields named `items[i].field`), after trimming its
    /// name.
    pub fn check(&mut self, index: usize, problems: &mut Problems) {
        let field = |name: &str| format!("items[{index}].{name}");
        self.product_name = self.product_name.trim().to_owned();
        problems.check(
            self.product_id > 0,
            &field("productId"),
            "must be a positive integer",
        );
        problems.check(
            (1..=200).contains(&self.product_name.chars().count()),
            &field("productName"),
            "must be 1 to 200 characters",
        );
        problems.check(
            self.category_id.is_none_or(|id| id > 0),
            &field("categoryId"),
            "must be a positive integer",
        );
        problems.check(
            (1..=100_000).contains(&self.quantity),
            &field("quantity"),
            "must be between 1 and 100000",
        );
    }
}

/// An order, as recorded from the shop's system.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The shop's order id.
    pub id: i32,
    /// The shop's order number.
    pub sales_order_number: String,
    /// The customer, if known (guest orders may have none yet).
    pub customer_id: Option<i32>,
    /// Current status.
    pub status: OrderStatus,
    /// Order total in taka.
    pub total_amount: Decimal,
    /// When the order first reached a delivered status.
    pub delivered_at: Option<Timestamp>,
    /// When the order was placed.
    pub created_at: Timestamp,
    /// When Bondhu last recorded a change.
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_case_insensitively() {
        assert_eq!(
            "DELIVERED".parse::<OrderStatus>().unwrap(),
            OrderStatus::Delivered
        );
        assert_eq!(
            "Partial-Delivered".parse::<OrderStatus>().unwrap(),
            OrderStatus::PartialDelivered
        );
        assert!("teleported".parse::<OrderStatus>().is_err());
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
        }
    }
}
