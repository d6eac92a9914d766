//! Points, coupons and memberships.

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::loyalty::{
    Coupon, CouponRefusal, Membership, PointTransaction, Points, PointsDirection, Tier, TierSource,
};
use crate::domain::time::Timestamp;
use crate::domain::wallet::PostingOutcome;

/// Customer `customer_id`'s points balance (if the customer is live).
pub async fn points(db: impl PgExecutor<'_>, customer_id: i32) -> sqlx::Result<Option<Points>> {
    sqlx::query_as!(
        Points,
        r#"select p.id, p.customer_id, p.active_points, p.lifetime_earned, p.lifetime_redeemed,
                  p.created_at, p.updated_at,
                  (select coalesce(sum(rr.points), 0) from referral_rewards rr
                   where rr.customer_id = p.customer_id and rr.kind = 'points'
                     and rr.status in ('pending', 'in_review'))::integer as "pending_points!"
         from customer_points p join customers c on c.id = p.customer_id
         where p.customer_id = $1 and not c.is_deleted"#,
        customer_id
    )
    .fetch_optional(db)
    .await
}

/// A page of a customer's points ledger, newest first.
pub async fn point_transactions(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> sqlx::Result<Vec<PointTransaction>> {
    sqlx::query_as!(
        PointTransaction,
        r#"select id, customer_id, idempotency_key, transaction_type as "transaction_type: _", points,
                  source, reference_id, description, balance_after, created_at
           from point_transactions
           where customer_id = $1 and ($3::integer is null or id < $3)
           order by id desc limit $2"#,
        customer_id,
        limit,
        before_id
    )
    .fetch_all(db)
    .await
}

/// Points ledger row `id`.
pub async fn point_transaction(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<PointTransaction> {
    sqlx::query_as!(
        PointTransaction,
        r#"select id, customer_id, idempotency_key, transaction_type as "transaction_type: _", points,
                  source, reference_id, description, balance_after, created_at
           from point_transactions where id = $1"#,
        id
    )
    .fetch_one(db)
    .await
}

/// What posting points did (see `post_points_transaction` in the migrations).
pub use crate::db::wallets::PostOutcome;

/// Earns or redeems points exactly once per (customer, key).
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per column of the SQL function"
)]
pub async fn post_points(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    transaction_type: PointsDirection,
    points: i32,
    source: &str,
    reference_id: Option<i32>,
    description: Option<&str>,
    idempotency_key: &str,
    created_by: &str,
) -> sqlx::Result<PostOutcome> {
    let row = sqlx::query!(
        r#"select outcome as "outcome!: PostingOutcome", transaction_id
           from post_points_transaction($1, $2, $3, $4, $5, $6, $7, $8)"#,
        customer_id,
        transaction_type as PointsDirection,
        points,
        source,
        reference_id,
        description,
        idempotency_key,
        created_by
    )
    .fetch_one(db)
    .await?;
    PostOutcome::from_sql(row.outcome, row.transaction_id)
}

/// The coupon with `code`.
pub async fn coupon(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<Coupon>> {
    sqlx::query_as!(
        Coupon,
        r#"select id, code, customer_id, kind as "kind: _", discount_type as "discount_type: _",
                  discount_value, max_discount, product_id, product_name, first_order_only,
                  valid_from, valid_until as "valid_until: Timestamp", status as "status: _",
                  redeemed_order_id, redeemed_at as "redeemed_at: Timestamp",
                  referral_id, created_at
         from coupons where code = upper($1)"#,
        code
    )
    .fetch_optional(db)
    .await
}

/// A page of a customer's coupons and free products: usable ones first, then the rest,
/// each newest first; at most `limit`, after `before` (the previous page's last coupon's
/// `(usable, id)`, from [`coupon_position`]) when given. Usable is decided at each request,
/// so a coupon that expires between two pages moves across the cursor.
pub async fn coupons_of(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    limit: i64,
    before: Option<(bool, i32)>,
) -> sqlx::Result<Vec<Coupon>> {
    let (before_usable, before_id) = before.unzip();
    sqlx::query_as!(
        Coupon,
        r#"select id, code, customer_id, kind as "kind: _", discount_type as "discount_type: _",
                  discount_value, max_discount, product_id, product_name, first_order_only,
                  valid_from, valid_until as "valid_until: Timestamp", status as "status: _",
                  redeemed_order_id, redeemed_at as "redeemed_at: Timestamp",
                  referral_id, created_at
         from coupons
         where customer_id = $1
           and ($3::boolean is null
                or ((status = 'active' and (valid_until is null or valid_until > now())), id)
                   < ($3, $4::integer))
         order by (status = 'active' and (valid_until is null or valid_until > now())) desc, id desc
         limit $2"#,
        customer_id,
        limit,
        before_usable,
        before_id
    )
    .fetch_all(db)
    .await
}

/// Where coupon `id` of `customer_id` sits in [`coupons_of`]'s order: whether it is usable
/// now, and its id; `None` when it is not the customer's.
pub async fn coupon_position(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    id: i32,
) -> sqlx::Result<Option<(bool, i32)>> {
    let usable = sqlx::query_scalar!(
        r#"select (status = 'active' and (valid_until is null or valid_until > now())) as "usable!"
           from coupons where id = $1 and customer_id = $2"#,
        id,
        customer_id
    )
    .fetch_optional(db)
    .await?;
    Ok(usable.map(|usable| (usable, id)))
}

/// Why coupon `code` cannot be used now by `customer_id` on a new order, or `None` when
/// it can: the same judge (`coupon_refusal` in the migrations) as the redemption at
/// delivery.
pub async fn coupon_refusal(
    db: impl PgExecutor<'_>,
    code: &str,
    customer_id: i32,
) -> sqlx::Result<Option<CouponRefusal>> {
    sqlx::query_scalar!(
        r#"select refusal as "refusal: CouponRefusal"
           from coupon_refusal($1, $2, null, now())"#,
        code,
        customer_id
    )
    .fetch_one(db)
    .await
}

/// Customer `customer_id`'s membership, with spend computed from delivered orders.
pub async fn membership(
    db: impl PgExecutor<'_>,
    customer_id: i32,
) -> sqlx::Result<Option<Membership>> {
    Ok(memberships(db, Some(customer_id), None, None, 1)
        .await?
        .into_iter()
        .next())
}

/// Memberships (of one customer, or of a tier), the highest current-month spend first, ties
/// by customer id; at most `limit`, after `after` (the previous page's last
/// `(current-month spend, customer id)`) when given. Spend is computed from the orders, so
/// no index holds this order: each page sorts the (tier's) memberships.
pub async fn memberships(
    db: impl PgExecutor<'_>,
    customer_id: Option<i32>,
    tier: Option<Tier>,
    after: Option<(Decimal, i32)>,
    limit: i64,
) -> sqlx::Result<Vec<Membership>> {
    let (after_spend, after_customer) = after.unzip();
    sqlx::query_as!(
        Membership,
        r#"select m.id, m.customer_id, m.membership_tier as "membership_tier: _", m.permanent_card_number,
                  m.discount_percentage,
                  m.free_delivery_count, m.free_delivery_used,
                  coalesce(s.current_month, 0) as "current_month_spend!: Decimal",
                  coalesce(s.total, 0) as "total_monthly_spend!: Decimal",
                  s.last_order as "last_order_date?: Timestamp",
                  m.price_lock_enabled, m.birthday_gift_sent, m.eid_gift_sent,
                  m.tier_achieved_at as "tier_achieved_at: Timestamp",
                  m.tier_expires_at as "tier_expires_at: Timestamp", m.tier_source as "tier_source: _", m.created_at, m.updated_at
           from customer_memberships m
           join customers c on c.id = m.customer_id and not c.is_deleted
           left join lateral (
               select sum(o.total_amount) filter (
                          where order_status_is_success(o.status)
                            and date_trunc('month', o.created_at at time zone 'Asia/Dhaka')
                                = date_trunc('month', now() at time zone 'Asia/Dhaka')) as current_month,
                      sum(o.total_amount) filter (where order_status_is_success(o.status)) as total,
                      max(o.created_at) as last_order
               from sales_orders o where o.customer_id = m.customer_id
           ) s on true
           where ($1::integer is null or m.customer_id = $1)
             and ($2::membership_tier is null or m.membership_tier = $2)
             -- Spend descending, customer ascending: the negated spend makes it one row
             -- comparison.
             and ($4::numeric is null
                  or (-coalesce(s.current_month, 0), m.customer_id) > (-$4::numeric, $5::integer))
           order by 8 desc, m.customer_id
           limit $3"#,
        customer_id,
        tier as Option<Tier>,
        limit,
        after_spend,
        after_customer
    )
    .fetch_all(db)
    .await
}

/// Sets a customer's tier and its benefits (`set_tier_benefits` in the migrations). With
/// `raise_only`, a tier at or above `tier` is kept (the check and the write are one
/// statement, so a concurrent referral upgrade is never undone; the ladder is the order
/// of the `membership_tier` type).
pub async fn set_tier(
    db: impl PgExecutor<'_>,
    customer_id: i32,
    tier: Tier,
    source: TierSource,
    raise_only: bool,
) -> sqlx::Result<bool> {
    let updated = sqlx::query_scalar!(
        r#"with updated as (
               update customer_memberships
               set membership_tier = $2, tier_source = $3, updated_at = now(),
                   tier_achieved_at = case when membership_tier = $2 then tier_achieved_at else now() end
               where customer_id = $1 and (not $4 or membership_tier < $2)
               returning customer_id)
           select set_tier_benefits(customer_id) is null as "done!" from updated"#,
        customer_id,
        tier as Tier,
        source as TierSource,
        raise_only
    )
    .fetch_optional(db)
    .await?;
    Ok(updated.is_some())
}

/// Successful orders and their value, per customer, for tier evaluation.
pub async fn order_totals(
    db: impl PgExecutor<'_>,
    customer_id: i32,
) -> sqlx::Result<(i64, Decimal)> {
    let row = sqlx::query!(
        r#"select count(*) as "orders!", coalesce(sum(total_amount), 0) as "spend!: Decimal"
           from sales_orders where customer_id = $1 and order_status_is_success(status)"#,
        customer_id
    )
    .fetch_one(db)
    .await?;
    Ok((row.orders, row.spend))
}

/// A live customer's benefits summary (TrustCart's view `member_benefits_summary`), or
/// `None` when they have no membership tier.
pub async fn benefits(
    db: impl PgExecutor<'_>,
    customer_id: i32,
) -> sqlx::Result<Option<crate::domain::grocery::BenefitsSummary>> {
    sqlx::query_as!(
        crate::domain::grocery::BenefitsSummary,
        r#"select m.customer_id, m.membership_tier as "membership_tier: _", m.permanent_card_number,
                  m.discount_percentage, m.free_delivery_count, m.free_delivery_used,
                  greatest(m.free_delivery_count - m.free_delivery_used, 0) as "free_deliveries_left!",
                  m.price_lock_enabled,
                  (select count(*) from price_locks pl
                   where pl.customer_id = m.customer_id and pl.is_active)::text as "active_price_locks!",
                  coalesce((select w.balance from customer_wallets w where w.customer_id = m.customer_id), 0)
                      as "wallet_balance!: Decimal",
                  (select count(*) from customer_referrals r
                   where r.referrer_customer_id = m.customer_id and r.status = 'completed')::text
                      as "completed_referrals!"
           from customer_memberships m join customers c on c.id = m.customer_id and not c.is_deleted
           where m.customer_id = $1 and m.membership_tier <> 'none'"#,
        customer_id
    )
    .fetch_optional(db)
    .await
}
