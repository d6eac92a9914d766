//! Orders mirrored from the shop's system.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};

use crate::domain::order::{Order, OrderLine, OrderOutcome as OrderOutcomeKind, OrderStatus};
use crate::domain::time::Timestamp;

/// A change to record, as the shop's system reports it.
#[derive(Debug)]
pub struct OrderChange<'a> {
    /// The shop's order id.
    pub order_id: i32,
    /// The new status.
    pub status: OrderStatus,
    /// `true` creates or updates the whole order; `false` only moves an existing one.
    pub upsert: bool,
    /// The customer (set once, never changed).
    pub customer_id: Option<i32>,
    /// The total, in taka.
    pub total_amount: Option<Decimal>,
    /// The shop's order number.
    pub sales_order_number: Option<&'a str>,
    /// When the order was placed (used when the order is first recorded).
    pub created_at: Option<DateTime<Utc>>,
    /// The referral code typed at checkout (kept once set).
    pub referral_code: Option<&'a str>,
    /// The coupon the order carries; redeemed when the order is delivered.
    pub coupon_code: Option<&'a str>,
}

/// What recording a change did.
#[derive(Debug)]
pub enum OrderOutcome {
    /// Recorded.
    Applied {
        /// The order after the change.
        order: Order,
        /// Its status before, if it existed.
        previous_status: Option<OrderStatus>,
        /// The referral this change completed, if any.
        completed_referral_id: Option<i32>,
    },
    /// `upsert` was false and the order is unknown.
    NotFound,
    /// The order belongs to another customer.
    CustomerConflict,
    /// No live customer has the id the order names.
    CustomerNotFound,
}

/// Records an order change and, when the order is delivered for the first time,
/// completes its customer's referral and credits the rewards: one statement, one
/// transaction (see `apply_order_status` in the migrations).
pub async fn apply(
    db: impl PgExecutor<'_>,
    change: &OrderChange<'_>,
) -> sqlx::Result<OrderOutcome> {
    let row = sqlx::query!(
        r#"select outcome as "outcome!: OrderOutcomeKind",
                  previous_status as "previous_status: OrderStatus",
                  completed_referral_id,
                  order_id, order_number, order_customer_id,
                  order_status as "order_status: OrderStatus",
                  order_total_amount, order_delivered_at, order_created_at, order_updated_at
           from apply_order_status($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
        change.order_id,
        change.status as OrderStatus,
        change.upsert,
        change.customer_id,
        change.total_amount,
        change.sales_order_number,
        change.created_at,
        change.referral_code,
        change.coupon_code,
    )
    .fetch_one(db)
    .await?;
    Ok(match row.outcome {
        OrderOutcomeKind::Applied => {
            let missing = || sqlx::Error::Protocol("apply_order_status returned no order".into());
            OrderOutcome::Applied {
                order: Order {
                    id: row.order_id.ok_or_else(missing)?,
                    sales_order_number: row.order_number.ok_or_else(missing)?,
                    customer_id: row.order_customer_id,
                    status: row.order_status.ok_or_else(missing)?,
                    total_amount: row.order_total_amount.ok_or_else(missing)?,
                    delivered_at: row.order_delivered_at.map(Timestamp::from),
                    created_at: row.order_created_at.ok_or_else(missing)?.into(),
                    updated_at: row.order_updated_at.ok_or_else(missing)?.into(),
                },
                previous_status: row.previous_status,
                completed_referral_id: row.completed_referral_id,
            }
        }
        OrderOutcomeKind::CustomerConflict => OrderOutcome::CustomerConflict,
        OrderOutcomeKind::CustomerNotFound => OrderOutcome::CustomerNotFound,
        OrderOutcomeKind::OrderNotFound => OrderOutcome::NotFound,
    })
}

/// The customer of order `order_id`: `None` if there is no such order, `Some(None)` for
/// an order without a customer.
pub async fn customer_of(
    db: impl PgExecutor<'_>,
    order_id: i32,
) -> sqlx::Result<Option<Option<i32>>> {
    sqlx::query_scalar!(
        "select customer_id from sales_orders where id = $1",
        order_id
    )
    .fetch_optional(db)
    .await
}

/// The order id reserved for the campaign dry run, whose order only ever exists inside a
/// transaction that is rolled back. The shop's own orders may not use it.
pub const SIMULATION_ORDER_ID: i32 = i32::MAX;

/// When order `order_id` was placed, if it is recorded.
pub async fn created_at(
    db: impl PgExecutor<'_>,
    order_id: i32,
) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar!(
        "select created_at from sales_orders where id = $1",
        order_id
    )
    .fetch_optional(db)
    .await
}

/// Replaces order `order_id`'s lines with `lines` (the caller holds the transaction in
/// which the order was just recorded).
pub async fn replace_lines(
    conn: &mut PgConnection,
    order_id: i32,
    lines: &[OrderLine],
) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from sales_order_lines where order_id = $1",
        order_id
    )
    .execute(&mut *conn)
    .await?;
    if lines.is_empty() {
        return Ok(());
    }
    let products: Vec<i32> = lines.iter().map(|l| l.product_id).collect();
    let names: Vec<String> = lines.iter().map(|l| l.product_name.clone()).collect();
    let categories: Vec<Option<i32>> = lines.iter().map(|l| l.category_id).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<Decimal> = lines.iter().map(|l| l.unit_price.get()).collect();
    sqlx::query!(
        r#"insert into sales_order_lines
               (order_id, line_no, product_id, product_name, category_id, quantity, unit_price)
           select $1, n::integer, p, name, c, q, price
           from unnest($2::integer[], $3::text[], $4::integer[], $5::integer[], $6::numeric[])
                with ordinality as l(p, name, c, q, price, n)"#,
        order_id,
        &products,
        &names,
        &categories as &[Option<i32>],
        &quantities,
        &prices,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
