//! Referrals, campaigns' terms and the referral statistics.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use sqlx::types::Json;

use crate::domain::campaign::{Weighted, pick_variant};
use crate::domain::referral::{
    Completion, Referral, ReferralListItem, ReferralStats, ReferralStatus, RewardDecision,
    RewardTerms,
};
use crate::domain::referral_code::new_invite_code;
use crate::domain::time::Timestamp;
use crate::domain::utm::Utm;

/// The campaign a new referral gets, and its A/B variants.
#[derive(Clone, Debug)]
pub struct CampaignChoice {
    /// The campaign.
    pub campaign_id: Uuid,
    /// Its variants (empty when it has none).
    pub variants: Vec<Weighted>,
}

/// The campaign for a referral made now: the partner's campaign, else the newest campaign
/// of the channel, else the default one; each only if active and within its dates.
pub async fn resolve_campaign(
    conn: &mut PgConnection,
    partner_id: Option<Uuid>,
    channel: &str,
) -> sqlx::Result<Option<CampaignChoice>> {
    let campaign_id = sqlx::query_scalar!(
        "select c.id
         from referral_campaigns c
         left join referral_partners p on p.id = $1 and p.campaign_id = c.id
         where c.is_active
           and (c.starts_at is null or c.starts_at <= now())
           and (c.ends_at is null or c.ends_at > now())
           and (p.id is not null or c.channel = $2 or c.is_default)
         order by p.id is not null desc, c.channel = $2 desc nulls last, c.is_default desc, c.created_at desc
         limit 1",
        partner_id,
        channel
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(campaign_id) = campaign_id else {
        return Ok(None);
    };
    let variants = sqlx::query_as!(
        Weighted,
        "select id, weight from referral_campaign_variants where campaign_id = $1 order by id",
        campaign_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(CampaignChoice {
        campaign_id,
        variants,
    }))
}

impl CampaignChoice {
    /// The variant `subject` (a referrer's or partner's id) is assigned to.
    pub fn variant_for(&self, subject: &str) -> Option<i32> {
        pick_variant(self.campaign_id, subject, &self.variants)
    }
}

/// A referral to create.
#[derive(Debug, Default)]
pub struct NewReferral<'a> {
    /// The referring customer (`None` for a partner's referral).
    pub referrer_customer_id: Option<i32>,
    /// The partner whose code brought the customer.
    pub partner_id: Option<Uuid>,
    /// The referred customer, when they already exist (`registered`); `None` for invitations.
    pub referred_customer_id: Option<i32>,
    /// The invitee's email.
    pub referred_email: Option<&'a str>,
    /// The invitee's phone.
    pub referred_phone: Option<&'a str>,
    /// The code the referred customer used.
    pub share_code_used: Option<&'a str>,
    /// Where the code was captured.
    pub source_channel: Option<&'a str>,
    /// The campaign whose terms are snapshotted (`None`: nothing is promised).
    pub campaign_id: Option<Uuid>,
    /// The campaign variant.
    pub variant_id: Option<i32>,
    /// When the referral counts as made (now, unless it came with an earlier order).
    pub created_at: Option<DateTime<Utc>>,
    /// The call-centre agent who captured it.
    pub agent_user_id: Option<i32>,
    /// The UTM tags the customer arrived with.
    pub utm: Option<&'a Utm>,
}

/// Creates a referral with a fresh invite code: `registered` when the referred customer is
/// known, `pending` otherwise. The campaign's terms are snapshotted now: later campaign
/// edits never change what this referral promised.
///
/// `None` when the referred customer already has a referral: the unique index
/// `customer_referrals_referred_customer_key` is the one judge of "one referrer per
/// customer" (the first touch wins), so nothing is checked before. Likewise a pending
/// invitation to a phone that has one already is refused by
/// `customer_referrals_pending_phone_key` (409 `referral_pending`), which two inviters
/// racing cannot both pass.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewReferral<'_>,
) -> sqlx::Result<Option<Referral>> {
    let no_utm = Utm::default();
    let utm = new.utm.unwrap_or(&no_utm);
    // A fresh code collides with probability ~1e-12 per existing code; on a collision
    // the insert does nothing and we draw again rather than abort the transaction.
    loop {
        let code = new_invite_code();
        let inserted = if let Some(referred) = new.referred_customer_id {
            // Registered: any conflict (the code, or the customer's one referral) is
            // skipped; which one it was is read below.
            sqlx::query_scalar!(
                r#"with terms as (select coalesce(campaign_terms($8, $9), '{}'::jsonb) as t)
                   insert into customer_referrals
                       (referrer_customer_id, referred_customer_id, referred_email, referred_phone,
                        referral_code, share_code_used, source_channel, campaign_id, variant_id,
                        partner_id, status, reward_terms, reward_type, reward_amount,
                        referred_reward_amount, created_at, agent_user_id,
                        utm_source, utm_medium, utm_campaign, utm_content)
                   select $1, $2, $3, $4, $5, $6, $7, $8, (terms.t ->> 'variant_id')::integer, $10,
                          'registered', terms.t,
                          coalesce((terms.t ->> 'reward_type')::reward_kind, 'wallet'),
                          coalesce((terms.t ->> 'reward_referrer_amount')::numeric, 0),
                          coalesce((terms.t ->> 'reward_referred_amount')::numeric, 0),
                          coalesce($11, now()), $12, $13, $14, $15, $16
                   from terms
                   on conflict do nothing
                   returning id"#,
                new.referrer_customer_id,
                referred,
                new.referred_email,
                new.referred_phone,
                code,
                new.share_code_used,
                new.source_channel,
                new.campaign_id,
                new.variant_id,
                new.partner_id,
                new.created_at,
                new.agent_user_id,
                utm.source,
                utm.medium,
                utm.campaign,
                utm.content,
            )
            .fetch_optional(&mut *conn)
            .await?
        } else {
            // Pending: only a code collision is skipped; a second pending invitation to
            // the phone is an error (`customer_referrals_pending_phone_key`).
            sqlx::query_scalar!(
                r#"with terms as (select coalesce(campaign_terms($7, $8), '{}'::jsonb) as t)
                   insert into customer_referrals
                       (referrer_customer_id, referred_email, referred_phone,
                        referral_code, share_code_used, source_channel, campaign_id, variant_id,
                        partner_id, status, reward_terms, reward_type, reward_amount,
                        referred_reward_amount, created_at, agent_user_id,
                        utm_source, utm_medium, utm_campaign, utm_content)
                   select $1, $2, $3, $4, $5, $6, $7, (terms.t ->> 'variant_id')::integer, $9,
                          'pending', terms.t,
                          coalesce((terms.t ->> 'reward_type')::reward_kind, 'wallet'),
                          coalesce((terms.t ->> 'reward_referrer_amount')::numeric, 0),
                          coalesce((terms.t ->> 'reward_referred_amount')::numeric, 0),
                          coalesce($10, now()), $11, $12, $13, $14, $15
                   from terms
                   on conflict (referral_code) do nothing
                   returning id"#,
                new.referrer_customer_id,
                new.referred_email,
                new.referred_phone,
                code,
                new.share_code_used,
                new.source_channel,
                new.campaign_id,
                new.variant_id,
                new.partner_id,
                new.created_at,
                new.agent_user_id,
                utm.source,
                utm.medium,
                utm.campaign,
                utm.content,
            )
            .fetch_optional(&mut *conn)
            .await?
        };
        match inserted {
            Some(id) => return find(&mut *conn, id).await,
            None => {
                if let Some(referred) = new.referred_customer_id
                    && find_by_referred(&mut *conn, referred).await?.is_some()
                {
                    return Ok(None);
                }
            }
        }
    }
}

/// A campaign's terms (with a variant's amounts) as a referral made now would snapshot them.
pub async fn campaign_terms(
    db: impl PgExecutor<'_>,
    campaign_id: Uuid,
    variant_id: Option<i32>,
) -> sqlx::Result<RewardTerms> {
    let terms = sqlx::query_scalar!(
        r#"select coalesce(campaign_terms($1, $2), '{}'::jsonb) as "terms!: Json<RewardTerms>""#,
        campaign_id,
        variant_id
    )
    .fetch_one(db)
    .await?;
    Ok(terms.0)
}

/// Issues the referred customer's welcome coupon or free product, if the referral's
/// campaign promises one (see `issue_welcome_rewards` in the migrations).
pub async fn issue_welcome_rewards(db: impl PgExecutor<'_>, referral_id: i32) -> sqlx::Result<()> {
    sqlx::query!("select issue_welcome_rewards($1)", referral_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Attaches a newly registered customer to the pending invitation with this code, with
/// the UTM tags they arrived with. Returns `None` when no pending, unclaimed invitation has
/// the code. A customer who has a referral already cannot claim another: the unique index
/// refuses it (409 `customer_already_referred`).
pub async fn claim_invite(
    conn: &mut PgConnection,
    invite_code: &str,
    referred_customer_id: i32,
    channel: &str,
    utm: &Utm,
) -> sqlx::Result<Option<Referral>> {
    let id = sqlx::query_scalar!(
        "update customer_referrals
         set referred_customer_id = $2, status = 'registered', share_code_used = $1,
             source_channel = coalesce(source_channel, $3),
             utm_source = $4, utm_medium = $5, utm_campaign = $6, utm_content = $7,
             -- A referral counts from when the friend joined, not from when the
             -- invitation was sent: an order placed before joining never qualifies.
             created_at = now()
         where referral_code = $1 and status = 'pending' and referred_customer_id is null
         returning id",
        invite_code,
        referred_customer_id,
        channel,
        utm.source,
        utm.medium,
        utm.campaign,
        utm.content,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => find(conn, id).await,
        None => Ok(None),
    }
}

/// The pending, unclaimed invitation with this code; with `lock`, locked until the
/// transaction ends (so that whoever matched it can claim it).
pub async fn find_pending_invite(
    conn: &mut PgConnection,
    invite_code: &str,
    lock: bool,
) -> sqlx::Result<Option<Referral>> {
    let id = if lock {
        sqlx::query_scalar!(
            "select id from customer_referrals
             where referral_code = $1 and status = 'pending' and referred_customer_id is null
             for update",
            invite_code
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_scalar!(
            "select id from customer_referrals
             where referral_code = $1 and status = 'pending' and referred_customer_id is null",
            invite_code
        )
        .fetch_optional(&mut *conn)
        .await?
    };
    match id {
        Some(id) => find(conn, id).await,
        None => Ok(None),
    }
}

/// Attaches a customer to a pending referral (an operator completing an invitation).
/// False when the referral is no longer pending; a customer who has a referral already is
/// refused by the unique index (409 `customer_already_referred`).
pub async fn attach_customer(
    db: impl PgExecutor<'_>,
    referral_id: i32,
    referred_customer_id: i32,
) -> sqlx::Result<bool> {
    let updated = sqlx::query!(
        "update customer_referrals set referred_customer_id = $2, status = 'registered', created_at = now()
         where id = $1 and status = 'pending' and referred_customer_id is null",
        referral_id,
        referred_customer_id,
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

impl From<Json<RewardTerms>> for RewardTerms {
    fn from(terms: Json<RewardTerms>) -> Self {
        terms.0
    }
}

/// The one reader of a referral row (by id, or by its referred customer).
async fn find_one(
    db: impl PgExecutor<'_>,
    id: Option<i32>,
    referred_customer_id: Option<i32>,
) -> sqlx::Result<Option<Referral>> {
    sqlx::query_as!(
        Referral,
        r#"select id, referrer_customer_id, referred_customer_id, referred_email, referred_phone,
                  referral_code, share_code_used, source_channel, campaign_id, partner_id,
                  variant_id, agent_user_id, qualifying_order_id, status as "status: _",
                  reward_type as "reward_type: _", reward_amount, reward_credited,
                  referred_reward_amount, referred_reward_credited, first_order_placed,
                  first_order_date as "first_order_date: Timestamp", created_at,
                  completed_at as "completed_at: Timestamp",
                  hold_until as "hold_until: Timestamp", released_at as "released_at: Timestamp",
                  fraud_reasons,
                  reward_terms as "reward_terms: Json<RewardTerms>"
           from customer_referrals
           where ($1::integer is null or id = $1)
             and ($2::integer is null or referred_customer_id = $2)
             and ($1::integer is not null or $2::integer is not null)"#,
        id,
        referred_customer_id
    )
    .fetch_optional(db)
    .await
}

/// The referrals agent `agent_user_id` captured, newest first, at most `limit`, older than
/// `before_id` if given (a range of `customer_referrals_agent_idx`).
pub async fn list_for_agent(
    db: impl PgExecutor<'_>,
    agent_user_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> sqlx::Result<Vec<Referral>> {
    sqlx::query_as!(
        Referral,
        r#"select id, referrer_customer_id, referred_customer_id, referred_email, referred_phone,
                  referral_code, share_code_used, source_channel, campaign_id, partner_id,
                  variant_id, agent_user_id, qualifying_order_id, status as "status: _",
                  reward_type as "reward_type: _", reward_amount, reward_credited,
                  referred_reward_amount, referred_reward_credited, first_order_placed,
                  first_order_date as "first_order_date: Timestamp", created_at,
                  completed_at as "completed_at: Timestamp",
                  hold_until as "hold_until: Timestamp", released_at as "released_at: Timestamp",
                  fraud_reasons,
                  reward_terms as "reward_terms: Json<RewardTerms>"
           from customer_referrals
           where agent_user_id = $1 and ($3::integer is null or id < $3)
           order by id desc
           limit $2"#,
        agent_user_id,
        limit,
        before_id
    )
    .fetch_all(db)
    .await
}

/// Referral `id`.
pub async fn find(db: impl PgExecutor<'_>, id: i32) -> sqlx::Result<Option<Referral>> {
    find_one(db, Some(id), None).await
}

/// Completes a referral and credits its rewards, in the caller's transaction.
pub async fn complete(
    conn: &mut PgConnection,
    referral_id: i32,
    order_id: Option<i32>,
    trigger: &str,
) -> sqlx::Result<Completion> {
    sqlx::query_scalar!(
        r#"select complete_referral($1, $2, $3) as "outcome!: Completion""#,
        referral_id,
        order_id,
        trigger
    )
    .fetch_one(&mut *conn)
    .await
}

/// A referrer's referrals, newest first, at most `limit`, older than `before_id` if given.
pub async fn list_for_referrer(
    db: impl PgExecutor<'_>,
    referrer_customer_id: i32,
    limit: i64,
    before_id: Option<i32>,
) -> sqlx::Result<Vec<ReferralListItem>> {
    let rows = sqlx::query!(
        r#"select r.id, r.referrer_customer_id, r.referred_customer_id, r.referred_email,
                  r.referred_phone, r.referral_code, r.share_code_used, r.source_channel,
                  r.campaign_id, r.partner_id, r.variant_id, r.agent_user_id,
                  r.qualifying_order_id, r.status as "status: ReferralStatus",
                  r.reward_type as "reward_type: crate::domain::referral::RewardKind",
                  r.reward_amount, r.reward_credited, r.referred_reward_amount,
                  r.referred_reward_credited, r.first_order_placed, r.first_order_date,
                  r.created_at, r.completed_at, r.hold_until, r.released_at, r.fraud_reasons,
                  r.reward_terms as "reward_terms: Json<RewardTerms>",
                  t.id as "reward_transaction_id?", t.created_at as "reward_credited_at?"
           from customer_referrals r
           left join lateral (
               select t.id, t.created_at
               from referral_rewards x join wallet_transactions t on t.id = x.wallet_transaction_id
               where x.referral_id = r.id and x.completion = r.completions
                 and x.side = 'referrer' and x.kind = 'wallet' and x.status = 'released'
           ) t on true
           where r.referrer_customer_id = $1 and ($3::integer is null or r.id < $3)
           order by r.id desc
           limit $2"#,
        referrer_customer_id,
        limit,
        before_id,
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ReferralListItem {
            referral: Referral {
                id: row.id,
                referrer_customer_id: row.referrer_customer_id,
                referred_customer_id: row.referred_customer_id,
                referred_email: row.referred_email,
                referred_phone: row.referred_phone,
                referral_code: row.referral_code,
                share_code_used: row.share_code_used,
                source_channel: row.source_channel,
                campaign_id: row.campaign_id,
                partner_id: row.partner_id,
                variant_id: row.variant_id,
                agent_user_id: row.agent_user_id,
                qualifying_order_id: row.qualifying_order_id,
                status: row.status,
                reward_type: row.reward_type,
                reward_amount: row.reward_amount,
                reward_credited: row.reward_credited,
                referred_reward_amount: row.referred_reward_amount,
                referred_reward_credited: row.referred_reward_credited,
                first_order_placed: row.first_order_placed,
                first_order_date: row.first_order_date.map(Timestamp::from),
                created_at: row.created_at.into(),
                completed_at: row.completed_at.map(Timestamp::from),
                hold_until: row.hold_until.map(Timestamp::from),
                released_at: row.released_at.map(Timestamp::from),
                fraud_reasons: row.fraud_reasons,
                reward_terms: row.reward_terms.0,
            },
            reward_transaction_id: row.reward_transaction_id,
            reward_credited_at: row.reward_credited_at.map(Timestamp::from),
        })
        .collect())
}

/// A referrer's statistics, or `None` when customer `referrer_customer_id` does not exist.
/// Counts come from the referrals; the money from the reward rows. One statement, so the
/// read costs one round trip.
pub async fn stats(
    db: impl PgExecutor<'_>,
    referrer_customer_id: i32,
) -> sqlx::Result<Option<ReferralStats>> {
    let row = sqlx::query!(
        r#"select
               r.total as "total!",
               r.completed as "completed!",
               r.invited as "invited!",
               r.registered as "registered!",
               w.released + m.released as "earned!: Decimal",
               w.pending as "pending!: Decimal"
           from customers c
           cross join lateral (
               select count(*) as total,
                      count(*) filter (where status = 'completed') as completed,
                      count(*) filter (where status = 'pending') as invited,
                      count(*) filter (where status = 'registered') as registered
               from customer_referrals where referrer_customer_id = c.id
           ) r
           -- One pass over the customer's referrer wallet rewards for both sums.
           cross join lateral (
               select coalesce(sum(amount) filter (where status = 'released'), 0) as released,
                      coalesce(sum(amount) filter (where status in ('pending', 'in_review')), 0)
                          as pending
               from referral_rewards
               where customer_id = c.id and side = 'referrer' and kind = 'wallet'
           ) w
           cross join lateral (
               select coalesce(sum(ms.reward_amount), 0) as released
               from milestone_awards a
               join referral_campaign_milestones ms on ms.id = a.milestone_id
               where a.customer_id = c.id and a.status = 'released'
           ) m
           where c.id = $1"#,
        referrer_customer_id,
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| ReferralStats {
        total_referrals: row.total.to_string(),
        completed_referrals: row.completed.to_string(),
        pending_referrals: (row.invited + row.registered).to_string(),
        invited_referrals: row.invited.to_string(),
        registered_referrals: row.registered.to_string(),
        total_rewards_earned: row.earned.to_string(),
        pending_rewards: row.pending.to_string(),
    }))
}

/// The referral that brought customer `referred_customer_id`, if any.
pub async fn find_by_referred(
    db: impl PgExecutor<'_>,
    referred_customer_id: i32,
) -> sqlx::Result<Option<Referral>> {
    find_one(db, None, Some(referred_customer_id)).await
}

/// Every reward decision made for referral `referral_id`, milestones included.
pub async fn reward_decisions(
    db: impl PgExecutor<'_>,
    referral_id: i32,
) -> sqlx::Result<Vec<RewardDecision>> {
    sqlx::query_as!(
        RewardDecision,
        r#"select side as "side!: _", kind as "kind!: _", status as "status!: _", reason, amount,
                  points, membership_tier as "membership_tier: _"
           from referral_rewards where referral_id = $1
           union all
           select 'referrer'::referral_side, 'milestone'::reward_kind, a.status, a.reason,
                  m.reward_amount, null::integer, null::membership_tier
           from milestone_awards a join referral_campaign_milestones m on m.id = a.milestone_id
           where a.referral_id = $1
           order by 1, 2"#,
        referral_id
    )
    .fetch_all(db)
    .await
}

/// Invitations customer `referrer_customer_id` sent in the last 24 hours.
pub async fn recent_invitations(
    db: impl PgExecutor<'_>,
    referrer_customer_id: i32,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from referral_events
           where event_type = 'invited' and referrer_customer_id = $1
             and created_at > now() - interval '1 day'"#,
        referrer_customer_id
    )
    .fetch_one(db)
    .await
}
