//! Referral campaigns, their variants and milestones.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::campaign::{Campaign, CampaignSpec, Milestone, Spent, Variant, VariantReport};
use crate::domain::money::{Amount, Money};

/// A page of campaigns, newest first (`created_at`, then id), at most `limit`: only active
/// ones unless `include_inactive`, and only those after `before` (the `(created_at, id)` of
/// the previous page's last campaign) when given. Seeks `referral_campaigns_list_idx`.
pub async fn list(
    conn: &mut PgConnection,
    include_inactive: bool,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Campaign>> {
    let (before_at, before_id) = before.unzip();
    let ids: Vec<Uuid> = sqlx::query_scalar!(
        "select id from referral_campaigns
         where ($1 or is_active)
           and ($2::timestamptz is null or (created_at, id) < ($2, $3::uuid))
         order by created_at desc, id desc
         limit $4",
        include_inactive,
        before_at,
        before_id,
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    load(conn, &ids).await
}

/// Where campaign `id` sits in the list's order: its `(created_at, id)`.
pub async fn position(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<(DateTime<Utc>, Uuid)>> {
    let at = sqlx::query_scalar!(
        "select created_at from referral_campaigns where id = $1",
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(at.map(|at| (at, id)))
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
    // The spec travels as the row's JSON, read through `CampaignSpec`'s own Deserialize:
    // the one list of its fields is the struct (see `save_campaign`).
    let rows = sqlx::query!(
        r#"select c.id, c.created_at, c.updated_at, c.spent_amount, c.spent_count,
                  -- The hold, an interval in the table, is read as seconds.
                  to_jsonb(c) || jsonb_build_object('reward_hold', extract(epoch from c.reward_hold)::integer)
                      as "spec!: Json<CampaignSpec>"
           from referral_campaigns c where c.id = any($1)
           order by array_position($1::uuid[], c.id)"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut variants: HashMap<Uuid, Vec<Variant>> = HashMap::new();
    for row in sqlx::query!(
        r#"select id, campaign_id, name, weight,
                  reward_referrer_amount as "reward_referrer_amount: Amount",
                  reward_referred_amount as "reward_referred_amount: Amount",
                  reward_referrer_points, reward_referred_points
           from referral_campaign_variants where campaign_id = any($1) order by id"#,
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
        r#"select id, campaign_id, referral_count, reward_amount as "reward_amount: Money"
           from referral_campaign_milestones where campaign_id = any($1)
           order by referral_count"#,
        ids
    )
    .fetch_all(&mut *conn)
    .await?
    {
        milestones
            .entry(row.campaign_id)
            .or_default()
            .push(Milestone {
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
            spec: c.spec.0,
            created_at: c.created_at.into(),
            updated_at: c.updated_at.into(),
            spent: Spent {
                amount: c.spent_amount,
                count: c.spent_count,
            },
        })
        .collect())
}

/// Writes `spec` to campaign `id`, creating it when `id` is `None`; returns the id.
pub async fn save(
    conn: &mut PgConnection,
    id: Option<Uuid>,
    spec: &CampaignSpec,
) -> sqlx::Result<Uuid> {
    if spec.is_default {
        // Exactly one default: taking the flag clears it everywhere else first.
        sqlx::query!(
            "update referral_campaigns set is_default = false, updated_at = now()
             where is_default and id is distinct from $1",
            id
        )
        .execute(&mut *conn)
        .await?;
    }
    // One JSON value rather than a bind per column: `save_campaign` (migration
    // 20261201000030) takes the column list from the table and refuses a spec that does
    // not name exactly the settable columns, so the fields are listed once, in Rust.
    sqlx::query_scalar!(
        r#"select save_campaign($1, $2) as "id!""#,
        id,
        Json(spec) as _
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
            v.reward_referrer_amount.get(),
            v.reward_referred_amount.get(),
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
            m.reward_amount.get(),
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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
               select count(*) filter (where rr.status = 'released') as issued,
                      count(*) filter (where rr.status = 'skipped') as skipped,
                      sum(rr.amount) filter (where rr.status = 'released' and rr.kind = 'wallet') as wallet,
                      sum(rr.points) filter (where rr.status = 'released' and rr.kind = 'points') as points
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
