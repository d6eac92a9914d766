//! Price locks and their savings.

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::grocery::PriceLock;

/// Locks `product_id` at `locked_price` for a live customer whose membership has price
/// locks enabled; `None` when the customer is not such a member. A second active lock for
/// the same product fails on `price_locks_one_active`.
pub async fn insert(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    product_id: i32,
    locked_price: Decimal,
) -> sqlx::Result<Option<PriceLock>> {
    sqlx::query_as!(
        PriceLock,
        r#"insert into price_locks (customer_id, product_id, locked_price)
           select m.customer_id, $2, $3
           from customer_memberships m join customers c on c.id = m.customer_id and not c.is_deleted
           where m.customer_id = $1 and m.price_lock_enabled
           returning id, customer_id, product_id, locked_price, is_active, created_at, updated_at"#,
        customer_id,
        product_id,
        locked_price
    )
    .fetch_optional(db)
    .await
}

/// A page of a customer's locks, newest first, older than `before_id` if given (a range
/// of `price_locks_customer_idx`).
pub async fn locks_of(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> sqlx::Result<Vec<PriceLock>> {
    sqlx::query_as!(
        PriceLock,
        r#"select id, customer_id, product_id, locked_price, is_active, created_at, updated_at
           from price_locks where customer_id = $1 and ($3::integer is null or id < $3)
           order by id desc
           limit $2"#,
        customer_id,
        limit,
        before_id
    )
    .fetch_all(db)
    .await
}

/// A customer's active locks and what they saved: Σ (unit price − locked price) ×
/// quantity over the lines of each locked product on the customer's delivered orders
/// placed after the lock, where the line was priced above the lock.
pub async fn savings(db: impl PgExecutor<'_>, customer_id: i32) -> sqlx::Result<(i64, Decimal)> {
    let row = sqlx::query!(
        r#"select
               (select count(*) from price_locks where customer_id = $1 and is_active) as "locks!",
               coalesce((
                   select sum((ol.unit_price - pl.locked_price) * ol.quantity)
                   from price_locks pl
                   join sales_orders o on o.customer_id = pl.customer_id
                                      and order_status_is_success(o.status)
                                      and o.created_at > pl.created_at
                   join sales_order_lines ol on ol.order_id = o.id
                                            and ol.product_id = pl.product_id
                                            and ol.unit_price > pl.locked_price
                   where pl.customer_id = $1 and pl.is_active
               ), 0) as "savings!: Decimal""#,
        customer_id
    )
    .fetch_one(db)
    .await?;
    Ok((row.locks, row.savings))
}
