//! Reviews customers shared (review to referral, guide 4.7).

use sqlx::PgConnection;

/// Records that customer `customer_id` shared review `review_id` (of `product_id`):
/// `false` when it was recorded before. A second call for the same review waits on the
/// first's key and then changes nothing, so racing calls record it once.
pub async fn record(
    conn: &mut PgConnection,
    customer_id: i32,
    review_id: i64,
    product_id: Option<i32>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query_scalar!(
        r#"insert into product_review_shares (customer_id, review_id, product_id)
           values ($1, $2, $3)
           on conflict (customer_id, review_id) do nothing
           returning true as "inserted!""#,
        customer_id,
        review_id,
        product_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(inserted.is_some())
}
