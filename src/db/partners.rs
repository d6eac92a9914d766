//! Referral partners (influencers, communities, shops' own codes).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::money::{Money, Percent};
use crate::domain::partner::{CommissionScope, Partner, PartnerType, PayoutMethod};

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

/// A page of partners, newest first (`created_at`, then id), at most `limit`: only active
/// ones unless `include_inactive`, and only those after `before` (the `(created_at, id)` of
/// the previous page's last partner) when given. Seeks `referral_partners_list_idx`.
pub async fn list(
    db: impl PgExecutor<'_>,
    include_inactive: bool,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Partner>> {
    let (before_at, before_id) = before.unzip();
    sqlx::query_as!(
        Partner,
        r#"select id, code, partner_type as "partner_type: PartnerType", name, is_active, created_at, campaign_id,
                contact_phone, payout_method as "payout_method: PayoutMethod", payout_account,
                commission_amount as "commission_amount: Money", commission_percent as "commission_percent: Percent",
                commission_cap as "commission_cap: Money", commission_scope as "commission_scope: CommissionScope",
                commission_days, customer_id, owed_amount
           from referral_partners
           where ($1 or is_active)
             and ($2::timestamptz is null or (created_at, id) < ($2, $3::uuid))
           order by created_at desc, id desc
           limit $4"#,
        include_inactive,
        before_at,
        before_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Where partner `id` sits in the list's order: its `(created_at, id)`.
pub async fn position(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<(DateTime<Utc>, Uuid)>> {
    let at = sqlx::query_scalar!("select created_at from referral_partners where id = $1", id)
        .fetch_optional(db)
        .await?;
    Ok(at.map(|at| (at, id)))
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
