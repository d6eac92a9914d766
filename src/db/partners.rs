//! Referral partners (influencers, communities, shops' own codes).

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::partner::{MAX_UTM_LINES, Partner, PartnerFunnel, PartnerOrder, UtmReportLine};
use crate::domain::time::Timestamp;

/// A partner matched by code.
#[derive(Debug)]
pub struct PartnerMatch {
    /// Partner id.
    pub id: Uuid,
    /// The code's canonical spelling.
    pub code: String,
}

/// The active partner whose code is `code`, compared case-insensitively.
pub async fn find_active_by_code(
    db: impl PgExecutor<'_>,
    code: &str,
) -> sqlx::Result<Option<PartnerMatch>> {
    sqlx::query_as!(
        PartnerMatch,
        "select id, code from referral_partners where lower(code) = lower($1) and is_active",
        code
    )
    .fetch_optional(db)
    .await
}

/// Partners, newest first; only active ones unless `include_inactive`.
pub async fn list(db: impl PgExecutor<'_>, include_inactive: bool) -> sqlx::Result<Vec<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where $1 or is_active order by created_at desc, id",
        include_inactive
    )
    .fetch_all(db)
    .await
}

/// Partner `id`.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Partner `id`, locked until the transaction ends.
pub async fn lock(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where id = $1 for update",
        id
    )
    .fetch_optional(db)
    .await
}

/// The partner whose code is `code` (case-insensitive), active or not.
pub async fn find_by_code(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where lower(code) = lower($1)",
        code
    )
    .fetch_optional(db)
    .await
}

/// Creates (`id` = `None`) or overwrites a partner.
pub async fn save(
    db: impl PgExecutor<'_>,
    id: Option<Uuid>,
    code: &str,
    partner_type: &str,
    name: Option<&str>,
    is_active: bool,
    campaign_id: Option<Uuid>,
) -> sqlx::Result<Partner> {
    sqlx::query_as!(
        Partner,
        "insert into referral_partners as p (id, code, partner_type, name, is_active, campaign_id)
         values (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6)
         on conflict (id) do update set code = excluded.code, partner_type = excluded.partner_type,
             name = excluded.name, is_active = excluded.is_active, campaign_id = excluded.campaign_id
         returning p.id, p.code, p.partner_type, p.name, p.is_active, p.created_at, p.campaign_id",
        id,
        code,
        partner_type,
        name,
        is_active,
        campaign_id
    )
    .fetch_one(db)
    .await
}

/// The funnel of partner `partner_id` (code `code`) between `from` and `to`.
pub async fn funnel(
    db: impl PgExecutor<'_>,
    partner_id: Uuid,
    code: &str,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> sqlx::Result<PartnerFunnel> {
    sqlx::query_as!(
        PartnerFunnel,
        r#"select
             (select count(*) from referral_events e
              where lower(e.partner_code) = lower($2)
                and ($3::timestamptz is null or e.created_at >= $3) and ($4::timestamptz is null or e.created_at < $4)) as "total_events!",
             (select count(*) from referral_events e
              where lower(e.partner_code) = lower($2) and e.event_type = 'clicked'
                and ($3::timestamptz is null or e.created_at >= $3) and ($4::timestamptz is null or e.created_at < $4)) as "clicked!",
             0::bigint as "invited!",
             (select count(*) from customer_referrals r
              where r.partner_id = $1
                and ($3::timestamptz is null or r.created_at >= $3) and ($4::timestamptz is null or r.created_at < $4)) as "registered!",
             (select count(*) from customer_referrals r
              where r.partner_id = $1 and r.status = 'completed'
                and ($3::timestamptz is null or r.completed_at >= $3) and ($4::timestamptz is null or r.completed_at < $4)) as "completed!",
             (select count(*) from referral_rewards rr join customer_referrals r on r.id = rr.referral_id
              where r.partner_id = $1 and rr.status = 'released'
                and ($3::timestamptz is null or rr.created_at >= $3) and ($4::timestamptz is null or rr.created_at < $4)) as "reward_credited!",
             (select count(distinct r.referred_customer_id) from customer_referrals r
              where r.partner_id = $1
                and ($3::timestamptz is null or r.created_at >= $3) and ($4::timestamptz is null or r.created_at < $4)) as "unique_referred_customers!",
             (select count(*) from sales_orders o join customers c on c.id = o.customer_id
              where c.referred_by_partner_id = $1
                and ($3::timestamptz is null or o.created_at >= $3) and ($4::timestamptz is null or o.created_at < $4)) as "attributed_orders!""#,
        partner_id,
        code,
        from,
        to,
    )
    .fetch_one(db)
    .await
}

/// The newest orders of customers the partner brought, in the window.
pub async fn orders(
    db: impl PgExecutor<'_>,
    partner_id: Uuid,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<PartnerOrder>> {
    sqlx::query_as!(
        PartnerOrder,
        r#"select o.id, o.sales_order_number, o.customer_id, o.total_amount,
                  null::text as "discount_amount?", o.coupon_code as offer_code, null::integer as "offer_id?",
                  o.status as "status: crate::domain::order::OrderStatus", o.created_at,
                  o.delivered_at as "delivered_at: Timestamp"
           from sales_orders o join customers c on c.id = o.customer_id
           where c.referred_by_partner_id = $1
             and ($2::timestamptz is null or o.created_at >= $2) and ($3::timestamptz is null or o.created_at < $3)
           order by o.created_at desc, o.id desc
           limit $4"#,
        partner_id,
        from,
        to,
        limit
    )
    .fetch_all(db)
    .await
}

/// Successful orders and their value, of customers the partner brought, in the window.
pub async fn revenue(
    db: impl PgExecutor<'_>,
    partner_id: Uuid,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> sqlx::Result<(i64, rust_decimal::Decimal)> {
    let row = sqlx::query!(
        r#"select count(*) as "orders!", coalesce(sum(o.total_amount), 0) as "total!: rust_decimal::Decimal"
           from sales_orders o join customers c on c.id = o.customer_id
           where c.referred_by_partner_id = $1 and order_status_is_success(o.status)
             and ($2::timestamptz is null or o.created_at >= $2) and ($3::timestamptz is null or o.created_at < $3)"#,
        partner_id,
        from,
        to
    )
    .fetch_one(db)
    .await?;
    Ok((row.orders, row.total))
}

/// The partner's signups in the window (by when the referral was made) by UTM source and
/// campaign, most signups first, at most [`MAX_UTM_LINES`] lines.
pub async fn by_utm(
    db: impl PgExecutor<'_>,
    partner_id: Uuid,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> sqlx::Result<Vec<UtmReportLine>> {
    sqlx::query_as!(
        UtmReportLine,
        r#"select r.utm_source, r.utm_campaign, count(*) as "signups!",
                  count(*) filter (where r.status = 'completed') as "delivered_first_orders!"
           from customer_referrals r
           where r.partner_id = $1 and r.referred_customer_id is not null
             and ($2::timestamptz is null or r.created_at >= $2) and ($3::timestamptz is null or r.created_at < $3)
           group by r.utm_source, r.utm_campaign
           order by count(*) desc, r.utm_source nulls last, r.utm_campaign nulls last
           limit $4"#,
        partner_id,
        from,
        to,
        MAX_UTM_LINES
    )
    .fetch_all(db)
    .await
}
