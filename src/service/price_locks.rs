//! Price locks (TrustCart routes 51–53) and a member's benefits summary (route 25).

use sqlx::PgPool;

use crate::db;
use crate::domain::grocery::{BenefitsSummary, PriceLock, PriceLockSavings};
use crate::domain::money::Money;
use crate::error::{Code, Error, Result};

/// Locks a product's price for a member whose tier has price locks (gold, permanent):
/// 422 `price_lock_not_allowed` for any other tier, 409 `price_lock_exists` when the
/// member already has an active lock for the product (the unique index decides, so two
/// concurrent requests make one lock).
pub async fn lock(
    pool: &PgPool,
    customer_id: i32,
    product_id: i64,
    locked_price: Money,
) -> Result<PriceLock> {
    let product_id = i32::try_from(product_id)
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::invalid_field("productId", "must be a positive product id"))?;
    if let Some(lock) =
        db::price_locks::insert(pool, customer_id, product_id, locked_price.get()).await?
    {
        return Ok(lock);
    }
    if !db::customers::exists(pool, customer_id).await? {
        return Err(Error::customer_not_found());
    }
    Err(Error::new(
        Code::PriceLockNotAllowed,
        "Only gold and permanent members can lock prices",
    ))
}

/// A page of a live customer's locks, newest first, older than `before_id` if given.
pub async fn locks(
    pool: &PgPool,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<PriceLock>> {
    if !db::customers::exists(pool, customer_id).await? {
        return Err(Error::customer_not_found());
    }
    Ok(db::price_locks::locks_of(pool, customer_id, limit, before_id).await?)
}

/// A live customer's active locks and what they saved.
pub async fn savings(pool: &PgPool, customer_id: i32) -> Result<PriceLockSavings> {
    if !db::customers::exists(pool, customer_id).await? {
        return Err(Error::customer_not_found());
    }
    let (locks, savings) = db::price_locks::savings(pool, customer_id).await?;
    Ok(PriceLockSavings {
        total_locked_products: locks.to_string(),
        total_savings: format!("{:.2}", savings.round_dp(2)),
    })
}

/// A live customer's benefits, or `None` when they have no membership tier (TrustCart
/// answers `{}` then).
pub async fn benefits(pool: &PgPool, customer_id: i32) -> Result<Option<BenefitsSummary>> {
    if !db::customers::exists(pool, customer_id).await? {
        return Err(Error::customer_not_found());
    }
    Ok(db::loyalty::benefits(pool, customer_id).await?)
}
