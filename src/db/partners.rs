//! Referral partners (influencers, communities, shops' own codes).

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::money::{Money, Percent};
use crate::domain::partner::{
    CommissionScope, MAX_UTM_LINES, Partner, PartnerFunnel, PartnerOrder, PartnerType,
    PayoutMethod, UtmReportLine,
};
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
        r#"select id, code, partner_type as "partner_type: PartnerType", name, is_active, created_at, campaign_id,
                contact_phone, payout_method as "payout_method: PayoutMethod", payout_account,
                commission_amount as "commission_amount: Money", commission_percent as "commission_percent: Percent",
                commission_cap as "commission_cap: Money", commission_scope as "commission_scope: CommissionScope",
                commission_days, customer_id, owed_amount
           from referral_partners where $1 or is_active order by created_at desc, id"#,
        include_inactive
    )
    .fetch_all(db)
    .await
}

/// Partner `id`.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        r#"select id, code, partner_type as "partner_type: PartnerType", name, is_active, created_at, campaign_id,
                contact_phone, payout_method as "payout_method: PayoutMethod", payout_account,
                commission_amount as "commission_amount: Money", commission_percent as "commission_percent: Percent",
                commission_cap as "commission_cap: Money", commission_scope as "commission_scope: CommissionScope",
                commission_days, customer_id, owed_amount
           from referral_partners where id = $1"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// Partner `id`, locked until the transaction ends.
pub async fn lock(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        r#"select id, code, partner_type as "partner_type: PartnerType", name, is_active, created_at, campaign_id,
                contact_phone, payout_method as "payout_method: PayoutMethod", payout_account,
                commission_amount as "commission_amount: Money", commission_percent as "commission_percent: Percent",
                commission_cap as "commission_cap: Money", commission_scope as "commission_scope: CommissionScope",
                commission_days, customer_id, owed_amount
           from referral_partners where id = $1 for update"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// The partner whose code is `code` (case-insensitive), active or not.
pub async fn find_by_code(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        r#"select id, code, partner_type as "partner_type: PartnerType", name, is_active, created_at, campaign_id,
                contact_phone, payout_method as "payout_method: PayoutMethod", payout_account,
                commission_amount as "commission_amount: Money", commission_percent as "commission_percent: Percent",
                commission_cap as "commission_cap: Money", commission_scope as "commission_scope: CommissionScope",
                commission_days, customer_id, owed_amount
           from referral_partners where lower(code) = lower($1)"#,
        code
    )
    .fetch_optional(db)
    .await
}

/// Every settable field of a partner, as it is to be stored.
#[derive(Debug)]
pub struct PartnerRow<'a> {
    /// The code.
    pub code: &'a str,
    /// The kind of partner.
    pub partner_type: PartnerType,
    /// Display name.
    pub name: Option<&'a str>,
    /// Whether the code attributes anyone.
    pub is_active: bool,
    /// The partner's campaign.
    pub campaign_id: Option<Uuid>,
    /// E.164.
    pub contact_phone: Option<&'a str>,
    /// How commissions are paid.
    pub payout_method: Option<PayoutMethod>,
    /// The wallet (E.164) or bank account.
    pub payout_account: Option<&'a str>,
    /// Fixed taka per order.
    pub commission_amount: Option<Money>,
    /// Or a percentage of the order.
    pub commission_percent: Option<Percent>,
    /// The percentage's cap.
    pub commission_cap: Option<Money>,
    /// Which orders earn.
    pub commission_scope: CommissionScope,
    /// Within how many days of the attribution.
    pub commission_days: Option<i32>,
    /// The partner's own customer account.
    pub customer_id: Option<i32>,
}

/// Creates (`id` = `None`) or overwrites a partner's settable fields (what it owes is
/// never written here).
pub async fn save(
    db: impl PgExecutor<'_>,
    id: Option<Uuid>,
    row: &PartnerRow<'_>,
) -> sqlx::Result<Partner> {
    sqlx::query_as!(
        Partner,
        r#"insert into referral_partners as p
               (id, code, partner_type, name, is_active, campaign_id, contact_phone, payout_method,
                payout_account, commission_amount, commission_percent, commission_cap, commission_scope,
                commission_days, customer_id)
           values (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           on conflict (id) do update set code = excluded.code, partner_type = excluded.partner_type,
               name = excluded.name, is_active = excluded.is_active, campaign_id = excluded.campaign_id,
               contact_phone = excluded.contact_phone, payout_method = excluded.payout_method,
               payout_account = excluded.payout_account, commission_amount = excluded.commission_amount,
               commission_percent = excluded.commission_percent, commission_cap = excluded.commission_cap,
               commission_scope = excluded.commission_scope, commission_days = excluded.commission_days,
               customer_id = excluded.customer_id
           returning p.id, p.code, p.partner_type as "partner_type: PartnerType", p.name, p.is_active,
               p.created_at, p.campaign_id, p.contact_phone, p.payout_method as "payout_method: PayoutMethod",
               p.payout_account, p.commission_amount as "commission_amount: Money",
               p.commission_percent as "commission_percent: Percent", p.commission_cap as "commission_cap: Money",
               p.commission_scope as "commission_scope: CommissionScope", p.commission_days, p.customer_id,
               p.owed_amount"#,
        id,
        row.code,
        row.partner_type as PartnerType,
        row.name,
        row.is_active,
        row.campaign_id,
        row.contact_phone,
        row.payout_method as Option<PayoutMethod>,
        row.payout_account,
        row.commission_amount.map(Money::get),
        row.commission_percent.map(Percent::get),
        row.commission_cap.map(Money::get),
        row.commission_scope as CommissionScope,
        row.commission_days,
        row.customer_id,
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
