//! Points, coupons and membership tiers.

use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::auth::{Permission, Principal};
use crate::db;
use crate::db::wallets::PostOutcome;
use crate::domain::loyalty::{
    Coupon, CouponCheck, CouponKind, DiscountType, Evaluation, Membership, PointTransaction,
    Points, PointsDirection, Thresholds, Tier, TierSource,
};
use crate::domain::money::OrderTotal;
use crate::domain::wallet::IdempotencyKey;
use crate::error::{Code, Error, Result};
use crate::service::wallets::check_movement;

/// A customer's points balance.
pub async fn points(pool: &PgPool, customer_id: i32) -> Result<Points> {
    db::loyalty::points(pool, customer_id)
        .await?
        .ok_or_else(Error::customer_not_found)
}

/// A page of a customer's points ledger, newest first.
pub async fn point_transactions(
    pool: &PgPool,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<PointTransaction>> {
    let rows = db::loyalty::point_transactions(pool, customer_id, limit, before_id).await?;
    super::customer_page(pool, customer_id, rows).await
}

/// An operator's points movement.
#[derive(Debug)]
pub struct PointsMovement {
    /// A positive whole number of points (at most 1,000,000).
    pub points: i32,
    /// Why (`bonus`, `purchase`, `referral`, …), up to 50 characters.
    pub source: String,
    /// Statement text.
    pub description: Option<String>,
    /// The order or request it belongs to.
    pub reference_id: Option<i32>,
}

/// Earns (`redeem` = false) or redeems points exactly once per (customer, key). Returns the
/// transaction and whether it is new (false on a replay).
pub async fn post_points(
    pool: &PgPool,
    customer_id: i32,
    redeem: bool,
    request: PointsMovement,
    idempotency_key: IdempotencyKey,
    actor: &str,
) -> Result<(PointTransaction, bool)> {
    if !(1..=1_000_000).contains(&request.points) {
        return Err(Error::invalid_field(
            "points",
            "must be a whole number from 1 to 1000000",
        ));
    }
    let source = request.source.trim().to_ascii_lowercase();
    if source.is_empty() || source.chars().count() > 50 {
        return Err(Error::invalid_field("source", "must be 1 to 50 characters"));
    }
    let description = check_movement(request.description.as_deref(), request.reference_id)?;
    let key = idempotency_key.as_str();
    let kind = if redeem {
        PointsDirection::Redeem
    } else {
        PointsDirection::Earn
    };
    let outcome = db::retry_transient(|| async {
        Ok(db::loyalty::post_points(
            pool,
            customer_id,
            kind,
            request.points,
            &source,
            request.reference_id,
            description,
            key,
            actor,
        )
        .await?)
    })
    .await?;
    let (id, created) = match outcome {
        PostOutcome::Posted(id) => (id, true),
        PostOutcome::Replayed(id) => (id, false),
        PostOutcome::KeyConflict => {
            return Err(Error::new(
                Code::IdempotencyKeyReused,
                "This idempotency key was already used for a different movement",
            ));
        }
        PostOutcome::InsufficientFunds => {
            return Err(Error::new(Code::InsufficientPoints, "Insufficient points"));
        }
        PostOutcome::AccountNotFound => return Err(Error::customer_not_found()),
    };
    Ok((db::loyalty::point_transaction(pool, id).await?, created))
}

/// A page of a customer's coupons and free products, after coupon `before_id` (the last of
/// the previous page; 400 `invalid_query` when it is none of the customer's).
pub async fn coupons(
    pool: &PgPool,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> Result<Vec<Coupon>> {
    if !db::customers::exists(pool, customer_id).await? {
        return Err(Error::customer_not_found());
    }
    let before = match before_id {
        None => None,
        Some(id) => Some(
            db::loyalty::coupon_position(pool, customer_id, id)
                .await?
                .ok_or_else(|| super::unknown_cursor("beforeId", "coupon of this customer"))?,
        ),
    };
    Ok(db::loyalty::coupons_of(pool, customer_id, limit, before).await?)
}

/// Whose coupon `principal` may check: a customer their own (naming another is refused),
/// the shop's system (`edit-sales-orders`) anyone's, which it must name.
pub fn coupon_checker(principal: &Principal, customer_id: Option<i32>) -> Result<i32> {
    match principal {
        Principal::Customer { id } => match customer_id {
            Some(other) if other != *id => Err(Error::forbidden(
                "A customer can only check their own coupons",
            )),
            _ => Ok(*id),
        },
        _ => {
            principal.require(Permission::EditSalesOrders)?;
            customer_id.ok_or_else(|| Error::invalid_field("customerId", "is required"))
        }
    }
}

/// Checks a coupon for a customer's order of `order_amount`. Writes nothing: the coupon
/// is redeemed when an order carrying it is delivered, under the same rule
/// (`coupon_refusal` in the migrations decides both).
pub async fn validate_coupon(
    pool: &PgPool,
    code: &str,
    customer_id: i32,
    order_amount: OrderTotal,
) -> Result<CouponCheck> {
    let code = code.trim();
    if let Some(refusal) = db::loyalty::coupon_refusal(pool, code, customer_id).await? {
        return Ok(CouponCheck {
            reason: Some(refusal),
            ..CouponCheck::default()
        });
    }
    let coupon = db::loyalty::coupon(pool, code)
        .await?
        .ok_or_else(|| anyhow::anyhow!("coupon {code:?} was usable and then vanished"))?;
    let order_amount = order_amount.get();
    let discount = match (coupon.kind, coupon.discount_type, coupon.discount_value) {
        (CouponKind::Discount, Some(DiscountType::Fixed), Some(value)) => {
            Some(value.min(order_amount))
        }
        (CouponKind::Discount, Some(DiscountType::Percent), Some(percent)) => {
            let off = (order_amount * percent / Decimal::ONE_HUNDRED).round_dp(2);
            Some(coupon.max_discount.map_or(off, |max| off.min(max)))
        }
        _ => None,
    };
    Ok(CouponCheck {
        valid: true,
        reason: None,
        kind: Some(coupon.kind),
        discount,
        product_id: coupon.product_id,
        product_name: coupon.product_name,
    })
}

/// A customer's membership.
pub async fn membership(pool: &PgPool, customer_id: i32) -> Result<Membership> {
    db::loyalty::membership(pool, customer_id)
        .await?
        .ok_or_else(Error::customer_not_found)
}

/// A page of memberships of a tier (or all), highest current-month spend first, after
/// `after` (the previous page's last `(spend, customer id)`) when given.
pub async fn memberships(
    pool: &PgPool,
    tier: Option<Tier>,
    after: Option<(Decimal, i32)>,
    limit: i64,
) -> Result<Vec<Membership>> {
    Ok(db::loyalty::memberships(pool, None, tier, after, limit).await?)
}

/// An operator sets a tier (up or down).
pub async fn set_tier(pool: &PgPool, customer_id: i32, tier: Tier) -> Result<Membership> {
    if !db::loyalty::set_tier(pool, customer_id, tier, TierSource::Manual, false).await? {
        return Err(Error::customer_not_found());
    }
    membership(pool, customer_id).await
}

/// Raises a customer's tier to what their delivered orders earn. Only delivered orders
/// count (TrustCart counted every order), and a tier is never lowered by an evaluation,
/// so a VIP tier earned by referrals survives the next order (TrustCart D10).
pub async fn evaluate(
    pool: &PgPool,
    customer_id: i32,
    thresholds: Thresholds,
) -> Result<Evaluation> {
    let current = membership(pool, customer_id).await?;
    let (orders, spend) = db::loyalty::order_totals(pool, customer_id).await?;
    let earned = if orders >= thresholds.permanent_orders || spend >= thresholds.permanent_spend {
        Tier::Permanent
    } else if orders >= thresholds.gold_orders || spend >= thresholds.gold_spend {
        Tier::Gold
    } else if orders >= thresholds.silver_orders || spend >= thresholds.silver_spend {
        Tier::Silver
    } else {
        Tier::None
    };
    let membership = if earned > current.membership_tier {
        db::loyalty::set_tier(pool, customer_id, earned, TierSource::Evaluation, true).await?;
        membership(pool, customer_id).await?
    } else {
        current
    };
    Ok(Evaluation {
        customer_id,
        total_orders: orders,
        total_spend: spend,
        tier: membership.membership_tier,
        permanent_card_number: membership.permanent_card_number,
        thresholds,
    })
}
