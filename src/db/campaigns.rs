//! Referral campaigns, their variants and milestones.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::campaign::{Campaign, Milestone, Variant};
use crate::domain::loyalty::Tier;
use crate::domain::referral::RewardKind;

/// Every settable column of a campaign.
#[derive(Clone, Debug)]
#[expect(
    missing_docs,
    reason = "one field per column; the names are the documentation"
)]
pub struct CampaignFields {
    pub name: String,
    pub is_active: bool,
    pub is_default: bool,
    pub reward_type: RewardKind,
    pub reward_referrer_amount: Decimal,
    pub reward_referred_amount: Decimal,
    pub reward_referrer_points: i32,
    pub reward_referred_points: i32,
    pub referrer_offer_id: Option<i32>,
    pub referred_offer_id: Option<i32>,
    pub vip_referrals_threshold: Option<i32>,
    pub vip_membership_tier: Option<Tier>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub channel: Option<String>,
    pub reward_referrer_percent: Option<Decimal>,
    pub reward_referred_percent: Option<Decimal>,
    pub reward_referrer_cap: Option<Decimal>,
    pub reward_referred_cap: Option<Decimal>,
    pub min_order_amount: Decimal,
    pub referrer_free_product_id: Option<i32>,
    pub referrer_free_product_name: Option<String>,
    pub referred_free_product_id: Option<i32>,
    pub referred_free_product_name: Option<String>,
    pub coupon_valid_days: i32,
    pub referrer_daily_limit: Option<i32>,
    pub referrer_monthly_limit: Option<i32>,
    pub referrer_lifetime_limit: Option<i32>,
    pub budget_amount: Option<Decimal>,
    pub budget_count: Option<i32>,
}

impl From<&Campaign> for CampaignFields {
    fn from(c: &Campaign) -> Self {
        Self {
            name: c.name.clone(),
            is_active: c.is_active,
            is_default: c.is_default,
            reward_type: c.reward_type,
            reward_referrer_amount: c.reward_referrer_amount,
            reward_referred_amount: c.reward_referred_amount,
            reward_referrer_points: c.reward_referrer_points,
            reward_referred_points: c.reward_referred_points,
            referrer_offer_id: c.referrer_offer_id,
            referred_offer_id: c.referred_offer_id,
            vip_referrals_threshold: c.vip_referrals_threshold,
            vip_membership_tier: c.vip_membership_tier,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            channel: c.channel.clone(),
            reward_referrer_percent: c.reward_referrer_percent,
            reward_referred_percent: c.reward_referred_percent,
            reward_referrer_cap: c.reward_referrer_cap,
            reward_referred_cap: c.reward_referred_cap,
            min_order_amount: c.min_order_amount,
            referrer_free_product_id: c.referrer_free_product_id,
            referrer_free_product_name: c.referrer_free_product_name.clone(),
            referred_free_product_id: c.referred_free_product_id,
            referred_free_product_name: c.referred_free_product_name.clone(),
            coupon_valid_days: c.coupon_valid_days,
            referrer_daily_limit: c.referrer_daily_limit,
            referrer_monthly_limit: c.referrer_monthly_limit,
            referrer_lifetime_limit: c.referrer_lifetime_limit,
            budget_amount: c.budget_amount,
            budget_count: c.budget_count,
        }
    }
}

/// Campaigns, newest first; only active ones unless `include_inactive`.
pub async fn list(conn: &mut PgConnection, include_inactive: bool) -> sqlx::Result<Vec<Campaign>> {
    let ids: Vec<Uuid> = sqlx::query_scalar!(
        "select id from referral_campaigns where $1 or is_active order by created_at desc, id",
        include_inactive
    )
    .fetch_all(&mut *conn)
    .await?;
    load(conn, &ids).await
}

/// Campaign `id`.
pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Campaign>> {
    Ok(load(conn, &[id]).await?.into_iter().next())
}

/// Campaign `id`, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Campaign>> {
    let found = sqlx::query_scalar!(
        "select id from referral_campaigns where id = $1 for update",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(id) => find(conn, id).await,
        None => Ok(None),
    }
}

/// The campaigns with these ids, in this order, with their variants and milestones.
async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Campaign>> {
    let rows = sqlx::query!(
        r#"select c.id, c.name, c.is_active, c.is_default, c.reward_type as "reward_type: RewardKind",
                  c.reward_referrer_amount, c.reward_referred_amount, c.reward_referrer_points,
                  c.reward_referred_points, c.referrer_offer_id, c.referred_offer_id,
                  c.vip_referrals_threshold, c.vip_membership_tier as "vip_membership_tier: Tier",
                  c.starts_at, c.ends_at, c.created_at, c.updated_at, c.channel,
                  c.reward_referrer_percent, c.reward_referred_percent, c.reward_referrer_cap,
                  c.reward_referred_cap, c.min_order_amount, c.referrer_free_product_id,
                  c.referrer_free_product_name, c.referred_free_product_id,
                  c.referred_free_product_name, c.coupon_valid_days, c.referrer_daily_limit,
                  c.referrer_monthly_limit, c.referrer_lifetime_limit, c.budget_amount,
                  c.budget_count, c.spent_amount, c.spent_count
           from referral_campaigns c where c.id = any($1)
           order by array_position($1::uuid[], c.id)"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut variants: HashMap<Uuid, Vec<Variant>> = HashMap::new();
    for row in sqlx::query!(
        "select * from referral_campaign_variants where campaign_id = any($1) order by id",
        ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        variants.entry(row.campaign_id).or_default().push(Variant {
            id: row.id,
            name: row.name,
            weight: row.weight,
            reward_referrer_amount: row.reward_referrer_amount,
            reward_referred_amount: row.reward_referred_amount,
            reward_referrer_points: row.reward_referrer_points,
            reward_referred_points: row.reward_referred_points,
        });
    }
    let mut milestones: HashMap<Uuid, Vec<Milestone>> = HashMap::new();
    for row in sqlx::query!(
        "select * from referral_campaign_milestones where campaign_id = any($1) order by referral_count",
        ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        milestones.entry(row.campaign_id).or_default().push(Milestone {
            id: row.id,
            referral_count: row.referral_count,
            reward_amount: row.reward_amount,
        });
    }
    Ok(rows
        .into_iter()
        .map(|c| Campaign {
            variants: variants.remove(&c.id).unwrap_or_default(),
            milestones: milestones.remove(&c.id).unwrap_or_default(),
            id: c.id,
            name: c.name,
            is_active: c.is_active,
            is_default: c.is_default,
            reward_type: c.reward_type,
            reward_referrer_amount: c.reward_referrer_amount,
            reward_referred_amount: c.reward_referred_amount,
            reward_referrer_points: c.reward_referrer_points,
            reward_referred_points: c.reward_referred_points,
            referrer_offer_id: c.referrer_offer_id,
            referred_offer_id: c.referred_offer_id,
            vip_referrals_threshold: c.vip_referrals_threshold,
            vip_membership_tier: c.vip_membership_tier,
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            channel: c.channel,
            reward_referrer_percent: c.reward_referrer_percent,
            reward_referred_percent: c.reward_referred_percent,
            reward_referrer_cap: c.reward_referrer_cap,
            reward_referred_cap: c.reward_referred_cap,
            min_order_amount: c.min_order_amount,
            referrer_free_product_id: c.referrer_free_product_id,
            referrer_free_product_name: c.referrer_free_product_name,
            referred_free_product_id: c.referred_free_product_id,
            referred_free_product_name: c.referred_free_product_name,
            coupon_valid_days: c.coupon_valid_days,
            referrer_daily_limit: c.referrer_daily_limit,
            referrer_monthly_limit: c.referrer_monthly_limit,
            referrer_lifetime_limit: c.referrer_lifetime_limit,
            budget_amount: c.budget_amount,
            budget_count: c.budget_count,
            spent_amount: c.spent_amount,
            spent_count: c.spent_count,
        })
        .collect())
}

/// Writes `fields` to campaign `id`, creating it when `id` is `None`; returns the id.
pub async fn save(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    f: &CampaignFields,
) -> sqlx::Result<Uuid> {
    if f.is_default {
        // Exactly one default: taking the flag clears it everywhere else first.
        sqlx::query!(
            "update referral_campaigns set is_default = false, updated_at = now()
             where is_default and id is distinct from $1",
            id
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query_scalar!(
        "insert into referral_campaigns as c
             (id, name, is_active, is_default, reward_type, reward_referrer_amount, reward_referred_amount,
              reward_referrer_points, reward_referred_points, referrer_offer_id, referred_offer_id,
              vip_referrals_threshold, vip_membership_tier, starts_at, ends_at, channel,
              reward_referrer_percent, reward_referred_percent, reward_referrer_cap, reward_referred_cap,
              min_order_amount, referrer_free_product_id, referrer_free_product_name,
              referred_free_product_id, referred_free_product_name, coupon_valid_days,
              referrer_daily_limit, referrer_monthly_limit, referrer_lifetime_limit,
              budget_amount, budget_count)
         values (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)
         on conflict (id) do update set
             name = excluded.name, is_active = excluded.is_active, is_default = excluded.is_default,
             reward_type = excluded.reward_type,
             reward_referrer_amount = excluded.reward_referrer_amount,
             reward_referred_amount = excluded.reward_referred_amount,
             reward_referrer_points = excluded.reward_referrer_points,
             reward_referred_points = excluded.reward_referred_points,
             referrer_offer_id = excluded.referrer_offer_id, referred_offer_id = excluded.referred_offer_id,
             vip_referrals_threshold = excluded.vip_referrals_threshold,
             vip_membership_tier = excluded.vip_membership_tier,
             starts_at = excluded.starts_at, ends_at = excluded.ends_at, channel = excluded.channel,
             reward_referrer_percent = excluded.reward_referrer_percent,
             reward_referred_percent = excluded.reward_referred_percent,
             reward_referrer_cap = excluded.reward_referrer_cap,
             reward_referred_cap = excluded.reward_referred_cap,
             min_order_amount = excluded.min_order_amount,
             referrer_free_product_id = excluded.referrer_free_product_id,
             referrer_free_product_name = excluded.referrer_free_product_name,
             referred_free_product_id = excluded.referred_free_product_id,
             referred_free_product_name = excluded.referred_free_product_name,
             coupon_valid_days = excluded.coupon_valid_days,
             referrer_daily_limit = excluded.referrer_daily_limit,
             referrer_monthly_limit = excluded.referrer_monthly_limit,
             referrer_lifetime_limit = excluded.referrer_lifetime_limit,
             budget_amount = excluded.budget_amount, budget_count = excluded.budget_count,
             updated_at = now()
         returning c.id",
        id,
        f.name,
        f.is_active,
        f.is_default,
        f.reward_type as RewardKind,
        f.reward_referrer_amount,
        f.reward_referred_amount,
        f.reward_referrer_points,
        f.reward_referred_points,
        f.referrer_offer_id,
        f.referred_offer_id,
        f.vip_referrals_threshold,
        f.vip_membership_tier as Option<Tier>,
        f.starts_at,
        f.ends_at,
        f.channel,
        f.reward_referrer_percent,
        f.reward_referred_percent,
        f.reward_referrer_cap,
        f.reward_referred_cap,
        f.min_order_amount,
        f.referrer_free_product_id,
        f.referrer_free_product_name,
        f.referred_free_product_id,
        f.referred_free_product_name,
        f.coupon_valid_days,
        f.referrer_daily_limit,
        f.referrer_monthly_limit,
        f.referrer_lifetime_limit,
        f.budget_amount,
        f.budget_count,
    )
    .fetch_one(&mut *conn)
    .await
}

/// Makes the campaign's variants exactly `variants`, matched by name: kept ones are
/// updated, missing ones deleted (refused by a foreign key if referrals use them), new
/// ones added.
pub async fn replace_variants(
    conn: &mut PgConnection,
    campaign_id: Uuid,
    variants: &[Variant],
) -> sqlx::Result<()> {
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    sqlx::query!(
        "delete from referral_campaign_variants where campaign_id = $1 and not (name = any($2))",
        campaign_id,
        &names
    )
    .execute(&mut *conn)
    .await?;
    for v in variants {
        sqlx::query!(
            "insert into referral_campaign_variants
                 (campaign_id, name, weight, reward_referrer_amount, reward_referred_amount,
                  reward_referrer_points, reward_referred_points)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict on constraint referral_campaign_variants_name_key do update set
                 weight = excluded.weight, reward_referrer_amount = excluded.reward_referrer_amount,
                 reward_referred_amount = excluded.reward_referred_amount,
                 reward_referrer_points = excluded.reward_referrer_points,
                 reward_referred_points = excluded.reward_referred_points",
            campaign_id,
            v.name,
            v.weight,
            v.reward_referrer_amount,
            v.reward_referred_amount,
            v.reward_referrer_points,
            v.reward_referred_points,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Makes the campaign's milestones exactly `milestones`, matched by referral count (a
/// milestone already awarded cannot be deleted: a foreign key refuses it).
pub async fn replace_milestones(
    conn: &mut PgConnection,
    campaign_id: Uuid,
    milestones: &[Milestone],
) -> sqlx::Result<()> {
    let counts: Vec<i32> = milestones.iter().map(|m| m.referral_count).collect();
    sqlx::query!(
        "delete from referral_campaign_milestones where campaign_id = $1 and not (referral_count = any($2))",
        campaign_id,
        &counts
    )
    .execute(&mut *conn)
    .await?;
    for m in milestones {
        sqlx::query!(
            "insert into referral_campaign_milestones (campaign_id, referral_count, reward_amount)
             values ($1, $2, $3)
             on conflict on constraint referral_campaign_milestones_count_key do update
             set reward_amount = excluded.reward_amount",
            campaign_id,
            m.referral_count,
            m.reward_amount,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One variant's line of a campaign report.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VariantReport {
    /// The variant (`null`: referrals made without one).
    pub variant_id: Option<i32>,
    /// Its name.
    pub name: Option<String>,
    /// Referrals made.
    pub referrals: i64,
    /// Referrals completed.
    pub completed: i64,
    /// Rewards issued.
    pub rewards_issued: i64,
    /// Rewards skipped (budget, limits, minimum order).
    pub rewards_skipped: i64,
    /// Wallet taka issued.
    #[serde(serialize_with = "crate::domain::campaign::money_string")]
    #[schema(value_type = String)]
    pub wallet_amount: Decimal,
    /// Points issued.
    pub points: i64,
}

/// The campaign's referrals and rewards, split by variant.
pub async fn report(
    db: impl PgExecutor<'_>,
    campaign_id: Uuid,
) -> sqlx::Result<Vec<VariantReport>> {
    sqlx::query_as!(
        VariantReport,
        r#"select r.variant_id, v.name as "name?",
                  count(*) as "referrals!",
                  count(*) filter (where r.status = 'completed') as "completed!",
                  coalesce(sum(x.issued), 0)::bigint as "rewards_issued!",
                  coalesce(sum(x.skipped), 0)::bigint as "rewards_skipped!",
                  coalesce(sum(x.wallet), 0) as "wallet_amount!",
                  coalesce(sum(x.points), 0)::bigint as "points!"
           from customer_referrals r
           left join referral_campaign_variants v on v.id = r.variant_id
           left join lateral (
               select count(*) filter (where rr.status = 'issued') as issued,
                      count(*) filter (where rr.status = 'skipped') as skipped,
                      sum(rr.amount) filter (where rr.status = 'issued' and rr.kind = 'wallet') as wallet,
                      sum(rr.points) filter (where rr.status = 'issued' and rr.kind = 'points') as points
               from referral_rewards rr where rr.referral_id = r.id
           ) x on true
           where r.campaign_id = $1
           group by r.variant_id, v.name
           order by r.variant_id nulls first"#,
        campaign_id
    )
    .fetch_all(db)
    .await
}
