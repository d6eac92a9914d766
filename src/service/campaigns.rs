//! Defining campaigns, and asking what a referral would earn (the dry run).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::campaigns::CampaignFields;
use crate::domain::campaign::{Campaign, Milestone, Variant, lenient_decimal};
use crate::domain::channel::Channel;
use crate::domain::loyalty::Tier;
use crate::domain::money::{Amount, OrderTotal};
use crate::domain::referral::{ReferralStatus, RewardDecision, RewardKind, RewardStatus};
use crate::error::{Code, Error, Problems, Result};

/// A field that may be absent (keep), `null` (clear) or a value (set).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn nullable_money<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<Decimal>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(value) => lenient_decimal(value)
            .map(|v| Some(Some(v)))
            .map_err(serde::de::Error::custom),
    }
}

fn money<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Decimal>, D::Error> {
    lenient_decimal(d).map(Some)
}

/// A campaign as an admin sends it (TrustCart's snake_case keys; camelCase accepted).
/// On update, absent keys keep their value and `null` clears a nullable one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[expect(
    missing_docs,
    reason = "one field per column; the names are the documentation"
)]
pub struct CampaignInput {
    pub name: Option<String>,
    #[serde(alias = "isActive")]
    pub is_active: Option<bool>,
    #[serde(alias = "isDefault")]
    pub is_default: Option<bool>,
    #[serde(alias = "rewardType")]
    pub reward_type: Option<String>,
    #[serde(default, alias = "rewardReferrerAmount", deserialize_with = "money")]
    #[schema(value_type = Option<f64>)]
    pub reward_referrer_amount: Option<Decimal>,
    #[serde(default, alias = "rewardReferredAmount", deserialize_with = "money")]
    #[schema(value_type = Option<f64>)]
    pub reward_referred_amount: Option<Decimal>,
    #[serde(alias = "rewardReferrerPoints")]
    pub reward_referrer_points: Option<i32>,
    #[serde(alias = "rewardReferredPoints")]
    pub reward_referred_points: Option<i32>,
    #[serde(default, alias = "referrerOfferId", deserialize_with = "nullable")]
    pub referrer_offer_id: Option<Option<i32>>,
    #[serde(default, alias = "referredOfferId", deserialize_with = "nullable")]
    pub referred_offer_id: Option<Option<i32>>,
    #[serde(
        default,
        alias = "vipReferralsThreshold",
        deserialize_with = "nullable"
    )]
    pub vip_referrals_threshold: Option<Option<i32>>,
    #[serde(default, alias = "vipMembershipTier", deserialize_with = "nullable")]
    pub vip_membership_tier: Option<Option<String>>,
    #[serde(default, alias = "startsAt", deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, alias = "endsAt", deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub channel: Option<Option<String>>,
    #[serde(
        default,
        alias = "rewardReferrerPercent",
        deserialize_with = "nullable_money"
    )]
    #[schema(value_type = Option<f64>)]
    pub reward_referrer_percent: Option<Option<Decimal>>,
    #[serde(
        default,
        alias = "rewardReferredPercent",
        deserialize_with = "nullable_money"
    )]
    #[schema(value_type = Option<f64>)]
    pub reward_referred_percent: Option<Option<Decimal>>,
    #[serde(
        default,
        alias = "rewardReferrerCap",
        deserialize_with = "nullable_money"
    )]
    #[schema(value_type = Option<f64>)]
    pub reward_referrer_cap: Option<Option<Decimal>>,
    #[serde(
        default,
        alias = "rewardReferredCap",
        deserialize_with = "nullable_money"
    )]
    #[schema(value_type = Option<f64>)]
    pub reward_referred_cap: Option<Option<Decimal>>,
    #[serde(default, alias = "minOrderAmount", deserialize_with = "money")]
    #[schema(value_type = Option<f64>)]
    pub min_order_amount: Option<Decimal>,
    #[serde(
        default,
        alias = "referrerFreeProductId",
        deserialize_with = "nullable"
    )]
    pub referrer_free_product_id: Option<Option<i32>>,
    #[serde(
        default,
        alias = "referrerFreeProductName",
        deserialize_with = "nullable"
    )]
    pub referrer_free_product_name: Option<Option<String>>,
    #[serde(
        default,
        alias = "referredFreeProductId",
        deserialize_with = "nullable"
    )]
    pub referred_free_product_id: Option<Option<i32>>,
    #[serde(
        default,
        alias = "referredFreeProductName",
        deserialize_with = "nullable"
    )]
    pub referred_free_product_name: Option<Option<String>>,
    #[serde(alias = "couponValidDays")]
    pub coupon_valid_days: Option<i32>,
    #[serde(default, alias = "referrerDailyLimit", deserialize_with = "nullable")]
    pub referrer_daily_limit: Option<Option<i32>>,
    #[serde(default, alias = "referrerMonthlyLimit", deserialize_with = "nullable")]
    pub referrer_monthly_limit: Option<Option<i32>>,
    #[serde(
        default,
        alias = "referrerLifetimeLimit",
        deserialize_with = "nullable"
    )]
    pub referrer_lifetime_limit: Option<Option<i32>>,
    #[serde(default, alias = "budgetAmount", deserialize_with = "nullable_money")]
    #[schema(value_type = Option<f64>)]
    pub budget_amount: Option<Option<Decimal>>,
    #[serde(default, alias = "budgetCount", deserialize_with = "nullable")]
    pub budget_count: Option<Option<i32>>,
    /// Replaces the A/B variants (matched by name) when present.
    pub variants: Option<Vec<Variant>>,
    /// Replaces the milestones (matched by referral count) when present.
    pub milestones: Option<Vec<Milestone>>,
}

/// A campaign amount: the one bound of [`Amount`].
fn money_ok(value: Decimal) -> bool {
    Amount::new(value).is_ok()
}

fn merge<T: Clone>(current: &mut T, patch: Option<T>) {
    if let Some(value) = patch {
        *current = value;
    }
}

/// The defaults of a new campaign: a wallet campaign paying nothing until amounts are set.
fn new_fields() -> CampaignFields {
    CampaignFields {
        name: String::new(),
        is_active: true,
        is_default: false,
        reward_type: RewardKind::Wallet,
        reward_referrer_amount: Decimal::ZERO,
        reward_referred_amount: Decimal::ZERO,
        reward_referrer_points: 0,
        reward_referred_points: 0,
        referrer_offer_id: None,
        referred_offer_id: None,
        vip_referrals_threshold: None,
        vip_membership_tier: None,
        starts_at: None,
        ends_at: None,
        channel: None,
        reward_referrer_percent: None,
        reward_referred_percent: None,
        reward_referrer_cap: None,
        reward_referred_cap: None,
        min_order_amount: Decimal::ZERO,
        referrer_free_product_id: None,
        referrer_free_product_name: None,
        referred_free_product_id: None,
        referred_free_product_name: None,
        coupon_valid_days: 30,
        referrer_daily_limit: None,
        referrer_monthly_limit: None,
        referrer_lifetime_limit: None,
        budget_amount: None,
        budget_count: None,
    }
}

/// The variants and milestones a campaign input replaces, when it names them.
type Replacements = (Option<Vec<Variant>>, Option<Vec<Milestone>>);

/// Applies `input` to `f` and validates the result as a whole.
fn apply(f: &mut CampaignFields, input: CampaignInput, creating: bool) -> Result<Replacements> {
    let mut problems = Problems::default();
    if creating {
        problems.check(
            input.name.as_deref().is_some_and(|n| !n.trim().is_empty()),
            "name",
            "is required",
        );
    }
    merge(&mut f.name, input.name.map(|n| n.trim().to_owned()));
    merge(&mut f.is_active, input.is_active);
    merge(&mut f.is_default, input.is_default);
    if let Some(raw) = input.reward_type {
        match RewardKind::from_name(&raw.trim().to_ascii_lowercase())
            .filter(|kind| *kind != RewardKind::Milestone)
        {
            Some(kind) => f.reward_type = kind,
            None => problems.add(
                "reward_type",
                "must be one of wallet, points, coupon, free_product, membership",
            ),
        }
    }
    merge(&mut f.reward_referrer_amount, input.reward_referrer_amount);
    merge(&mut f.reward_referred_amount, input.reward_referred_amount);
    merge(&mut f.reward_referrer_points, input.reward_referrer_points);
    merge(&mut f.reward_referred_points, input.reward_referred_points);
    merge(&mut f.referrer_offer_id, input.referrer_offer_id);
    merge(&mut f.referred_offer_id, input.referred_offer_id);
    merge(
        &mut f.vip_referrals_threshold,
        input.vip_referrals_threshold,
    );
    // TrustCart's form sends "none" for no tier.
    match input
        .vip_membership_tier
        .map(|t| t.map(|t| Tier::from_name(&t.trim().to_ascii_lowercase())))
    {
        None => {}
        Some(None | Some(Some(Tier::None))) => f.vip_membership_tier = None,
        Some(Some(Some(tier))) => f.vip_membership_tier = Some(tier),
        Some(Some(None)) => problems.add(
            "vip_membership_tier",
            "must be none, silver, gold or permanent",
        ),
    }
    merge(&mut f.starts_at, input.starts_at);
    merge(&mut f.ends_at, input.ends_at);
    merge(
        &mut f.channel,
        input
            .channel
            .map(|c| c.map(|c| c.trim().to_ascii_lowercase())),
    );
    merge(
        &mut f.reward_referrer_percent,
        input.reward_referrer_percent,
    );
    merge(
        &mut f.reward_referred_percent,
        input.reward_referred_percent,
    );
    merge(&mut f.reward_referrer_cap, input.reward_referrer_cap);
    merge(&mut f.reward_referred_cap, input.reward_referred_cap);
    merge(&mut f.min_order_amount, input.min_order_amount);
    merge(
        &mut f.referrer_free_product_id,
        input.referrer_free_product_id,
    );
    merge(
        &mut f.referrer_free_product_name,
        input.referrer_free_product_name,
    );
    merge(
        &mut f.referred_free_product_id,
        input.referred_free_product_id,
    );
    merge(
        &mut f.referred_free_product_name,
        input.referred_free_product_name,
    );
    merge(&mut f.coupon_valid_days, input.coupon_valid_days);
    merge(&mut f.referrer_daily_limit, input.referrer_daily_limit);
    merge(&mut f.referrer_monthly_limit, input.referrer_monthly_limit);
    merge(
        &mut f.referrer_lifetime_limit,
        input.referrer_lifetime_limit,
    );
    merge(&mut f.budget_amount, input.budget_amount);
    merge(&mut f.budget_count, input.budget_count);

    problems.check(!f.name.trim().is_empty(), "name", "must not be empty");
    problems.check(
        f.name.chars().count() <= 200,
        "name",
        "must be at most 200 characters",
    );
    problems.check(
        money_ok(f.reward_referrer_amount),
        "reward_referrer_amount",
        "must be 0 to 1000000 with at most 2 decimals",
    );
    problems.check(
        money_ok(f.reward_referred_amount),
        "reward_referred_amount",
        "must be 0 to 1000000 with at most 2 decimals",
    );
    problems.check(
        (0..=1_000_000).contains(&f.reward_referrer_points),
        "reward_referrer_points",
        "must be 0 to 1000000",
    );
    problems.check(
        (0..=1_000_000).contains(&f.reward_referred_points),
        "reward_referred_points",
        "must be 0 to 1000000",
    );
    problems.check(
        f.vip_referrals_threshold.is_none_or(|n| n > 0),
        "vip_referrals_threshold",
        "must be positive",
    );
    problems.check(
        f.reward_type != RewardKind::Membership || f.vip_referrals_threshold.is_some(),
        "vip_referrals_threshold",
        "is required for a membership campaign",
    );
    problems.check(
        !matches!((f.starts_at, f.ends_at), (Some(start), Some(end)) if end <= start),
        "ends_at",
        "must be after starts_at",
    );
    problems.check(
        f.channel
            .as_deref()
            .is_none_or(|c| Channel::parse_lenient(c).as_str() == c && c != "other"),
        "channel",
        "must be a channel name such as whatsapp, qr, agent_referral",
    );
    for (field, percent) in [
        ("reward_referrer_percent", f.reward_referrer_percent),
        ("reward_referred_percent", f.reward_referred_percent),
    ] {
        problems.check(
            percent.is_none_or(|p| {
                p > Decimal::ZERO && p <= Decimal::ONE_HUNDRED && p.normalize().scale() <= 2
            }),
            field,
            "must be above 0 and at most 100",
        );
    }
    // An uncapped percentage of an order total is an unbounded payout: a cap is required.
    for (field, percent, cap) in [
        (
            "reward_referrer_cap",
            f.reward_referrer_percent,
            f.reward_referrer_cap,
        ),
        (
            "reward_referred_cap",
            f.reward_referred_percent,
            f.reward_referred_cap,
        ),
    ] {
        problems.check(
            percent.is_none() || cap.is_some(),
            field,
            "is required with a percentage reward",
        );
    }
    for (field, cap) in [
        ("reward_referrer_cap", f.reward_referrer_cap),
        ("reward_referred_cap", f.reward_referred_cap),
    ] {
        problems.check(
            cap.is_none_or(|c| c > Decimal::ZERO && money_ok(c)),
            field,
            "must be positive",
        );
    }
    problems.check(
        money_ok(f.min_order_amount),
        "min_order_amount",
        "must be 0 to 1000000",
    );
    problems.check(
        (1..=3650).contains(&f.coupon_valid_days),
        "coupon_valid_days",
        "must be 1 to 3650",
    );
    problems.check(
        f.reward_type != RewardKind::FreeProduct
            || f.referrer_free_product_id.is_some()
            || f.referred_free_product_id.is_some(),
        "referrer_free_product_id",
        "a free_product campaign needs a product for at least one side",
    );
    for (field, limit) in [
        ("referrer_daily_limit", f.referrer_daily_limit),
        ("referrer_monthly_limit", f.referrer_monthly_limit),
        ("referrer_lifetime_limit", f.referrer_lifetime_limit),
        ("budget_count", f.budget_count),
    ] {
        problems.check(limit.is_none_or(|n| n > 0), field, "must be positive");
    }
    problems.check(
        f.budget_amount
            .is_none_or(|b| b > Decimal::ZERO && money_ok(b)),
        "budget_amount",
        "must be positive",
    );

    if let Some(variants) = &input.variants {
        let names: BTreeSet<&str> = variants.iter().map(|v| v.name.trim()).collect();
        problems.check(
            names.len() == variants.len(),
            "variants",
            "names must be unique",
        );
        for v in variants {
            problems.check(
                !v.name.trim().is_empty() && v.name.chars().count() <= 50,
                "variants",
                "names must be 1 to 50 characters",
            );
            problems.check(
                (1..=10_000).contains(&v.weight),
                "variants",
                "weights must be 1 to 10000",
            );
            problems.check(
                money_ok(v.reward_referrer_amount) && money_ok(v.reward_referred_amount),
                "variants",
                "amounts must be 0 to 1000000 with at most 2 decimals",
            );
            problems.check(
                v.reward_referrer_points >= 0 && v.reward_referred_points >= 0,
                "variants",
                "points must not be negative",
            );
        }
    }
    if let Some(milestones) = &input.milestones {
        let counts: BTreeSet<i32> = milestones.iter().map(|m| m.referral_count).collect();
        problems.check(
            counts.len() == milestones.len(),
            "milestones",
            "referral counts must be unique",
        );
        for m in milestones {
            problems.check(
                m.referral_count > 0,
                "milestones",
                "referral_count must be positive",
            );
            problems.check(
                m.reward_amount > Decimal::ZERO && money_ok(m.reward_amount),
                "milestones",
                "reward_amount must be positive",
            );
        }
    }
    problems.finish(Code::InvalidCampaign)?;
    Ok((input.variants, input.milestones))
}

/// Campaigns, newest first.
pub async fn list(pool: &PgPool, include_inactive: bool) -> Result<Vec<Campaign>> {
    let mut conn = pool.acquire().await?;
    Ok(db::campaigns::list(&mut conn, include_inactive).await?)
}

/// Creates a campaign.
pub async fn create(pool: &PgPool, input: CampaignInput) -> Result<Campaign> {
    let mut fields = new_fields();
    let (variants, milestones) = apply(&mut fields, input, true)?;
    let mut tx = pool.begin().await?;
    let campaign = save(&mut tx, None, fields, variants, milestones).await?;
    tx.commit().await?;
    Ok(campaign)
}

/// Updates campaign `id`: absent keys are kept, `null` clears.
pub async fn update(pool: &PgPool, id: Uuid, input: CampaignInput) -> Result<Campaign> {
    let mut tx = pool.begin().await?;
    let current = db::campaigns::lock(&mut tx, id)
        .await?
        .ok_or_else(campaign_not_found)?;
    let mut fields = CampaignFields::from(&current);
    let (variants, milestones) = apply(&mut fields, input, false)?;
    let mut problems = Problems::default();
    problems.check(
        fields
            .budget_amount
            .is_none_or(|b| b >= current.spent_amount),
        "budget_amount",
        "must not be below what the campaign has already paid",
    );
    problems.check(
        fields.budget_count.is_none_or(|b| b >= current.spent_count),
        "budget_count",
        "must not be below the referrals the campaign has already rewarded",
    );
    problems.finish(Code::InvalidCampaign)?;
    if current.is_default && !fields.is_default {
        return Err(Error::new(
            Code::DefaultCampaignRequired,
            "There must be a default campaign: make another campaign the default instead",
        ));
    }
    let campaign = save(&mut tx, Some(id), fields, variants, milestones).await?;
    tx.commit().await?;
    Ok(campaign)
}

/// Writes a campaign with its variants and milestones, in the caller's transaction.
async fn save(
    conn: &mut sqlx::PgConnection,
    id: Option<Uuid>,
    fields: CampaignFields,
    variants: Option<Vec<Variant>>,
    milestones: Option<Vec<Milestone>>,
) -> Result<Campaign> {
    let id = db::campaigns::save(conn, id, &fields).await?;
    if let Some(variants) = &variants {
        db::campaigns::replace_variants(conn, id, variants).await?;
    }
    if let Some(milestones) = &milestones {
        db::campaigns::replace_milestones(conn, id, milestones).await?;
    }
    db::campaigns::find(conn, id)
        .await?
        .ok_or_else(campaign_not_found)
}

fn campaign_not_found() -> Error {
    Error::new(Code::CampaignNotFound, "Campaign not found")
}

/// The campaign's referrals and rewards by variant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignReport {
    /// The campaign.
    pub campaign: Campaign,
    /// One line per variant (and one for referrals without a variant, if any).
    pub variants: Vec<db::campaigns::VariantReport>,
}

/// The report of campaign `id`.
pub async fn report(pool: &PgPool, id: Uuid) -> Result<CampaignReport> {
    let mut conn = pool.acquire().await?;
    let campaign = db::campaigns::find(&mut conn, id)
        .await?
        .ok_or_else(campaign_not_found)?;
    let variants = db::campaigns::report(&mut *conn, id).await?;
    Ok(CampaignReport { campaign, variants })
}

/// What to simulate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunRequest {
    /// The referring customer.
    pub referrer_customer_id: i32,
    /// The referred customer.
    pub referred_customer_id: i32,
    /// The qualifying order's total, in taka.
    #[serde(deserialize_with = "money")]
    #[schema(value_type = f64)]
    pub order_amount: Option<Decimal>,
    /// Simulate under this campaign instead of the one the referral would get.
    pub campaign_id: Option<Uuid>,
    /// The channel the code would come through (default `share_link`).
    pub channel: Option<String>,
}

/// What a referral would earn, and why not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResponse {
    /// Whether the referral would complete and earn anything.
    pub eligible: bool,
    /// Why not: `self_referral`, `customer_already_referred` (the same code as the 409 of a
    /// second attribution), `already_completed`, `not_first_order`,
    /// `no_campaign`, `campaign_inactive`, `budget_exhausted`, `referrer_limit_reached`,
    /// `below_minimum`.
    pub reasons: Vec<String>,
    /// The campaign whose terms apply.
    pub campaign_id: Option<Uuid>,
    /// The A/B variant the referrer is in.
    pub variant_id: Option<i32>,
    /// Every reward decision, as the delivery would make it.
    pub rewards: Vec<RewardDecision>,
}

impl DryRunResponse {
    fn refused(reason: &str) -> Self {
        Self {
            eligible: false,
            reasons: vec![reason.to_owned()],
            campaign_id: None,
            variant_id: None,
            rewards: Vec::new(),
        }
    }
}

/// Answers "what would this referral earn?" by doing it — creating the referral and a
/// delivered order and completing it through the very functions a real delivery uses — in
/// a transaction that is always rolled back. The answer cannot drift from the engine.
pub async fn dry_run(pool: &PgPool, request: DryRunRequest) -> Result<DryRunResponse> {
    let order_amount = OrderTotal::new(request.order_amount.unwrap_or_default())
        .map_err(|e| Error::invalid_field("orderAmount", e.to_string()))?
        .get();
    let channel = request
        .channel
        .as_deref()
        .map_or(Channel::ShareLink, Channel::parse_lenient);
    let (referrer, referred) = (request.referrer_customer_id, request.referred_customer_id);
    let mut tx = pool.begin().await?;
    for id in [referrer, referred] {
        if !db::customers::exists(&mut *tx, id).await? {
            return Err(Error::new(
                Code::CustomerNotFound,
                format!("Customer {id} not found"),
            ));
        }
    }
    if referrer == referred {
        return Ok(DryRunResponse::refused("self_referral"));
    }
    let existing = db::referrals::find_by_referred(&mut *tx, referred).await?;
    match &existing {
        Some(r) if r.referrer_customer_id != Some(referrer) => {
            return Ok(DryRunResponse::refused(
                Code::CustomerAlreadyReferred.as_str(),
            ));
        }
        Some(r) if r.status == ReferralStatus::Completed => {
            return Ok(DryRunResponse::refused("already_completed"));
        }
        _ => {}
    }

    if existing.is_some() && request.campaign_id.is_some() {
        return Err(Error::invalid_field(
            "campaignId",
            "this customer's referral already exists and keeps its campaign's terms",
        ));
    }
    let mut reasons = Vec::new();
    let (campaign_id, variant_id) = match (&existing, request.campaign_id) {
        (Some(r), None) => (r.campaign_id, r.variant_id),
        (_, Some(id)) => {
            let campaign = db::campaigns::find(&mut tx, id)
                .await?
                .ok_or_else(campaign_not_found)?;
            let now = Utc::now();
            let running = campaign.is_active
                && campaign.starts_at.is_none_or(|s| s <= now)
                && campaign.ends_at.is_none_or(|e| e > now);
            if !running {
                reasons.push("campaign_inactive".to_owned());
            }
            let choice = db::referrals::CampaignChoice {
                campaign_id: id,
                variants: campaign
                    .variants
                    .iter()
                    .map(|v| crate::domain::campaign::Weighted {
                        id: v.id,
                        weight: v.weight,
                    })
                    .collect(),
            };
            (Some(id), choice.variant_for(&referrer.to_string()))
        }
        (None, None) => {
            super::attribution::choose_campaign(&mut tx, None, channel, &referrer.to_string())
                .await?
        }
    };
    if campaign_id.is_none() {
        reasons.push("no_campaign".to_owned());
    }

    let referral_id = match existing {
        Some(r) => r.id,
        None => {
            db::referrals::insert(
                &mut tx,
                &db::referrals::NewReferral {
                    referrer_customer_id: Some(referrer),
                    referred_customer_id: Some(referred),
                    source_channel: Some(channel.as_str()),
                    campaign_id,
                    variant_id,
                    ..db::referrals::NewReferral::default()
                },
            )
            .await?
            .ok_or_else(|| anyhow::anyhow!("the simulated referral was refused"))?
            .id
        }
    };
    let order_id = db::orders::SIMULATION_ORDER_ID;
    let outcome = db::orders::apply(
        &mut *tx,
        &db::orders::OrderChange {
            order_id,
            status: crate::domain::order::OrderStatus::Delivered,
            upsert: true,
            customer_id: Some(referred),
            total_amount: Some(order_amount),
            sales_order_number: Some("DRY-RUN"),
            created_at: None,
            referral_code: None,
            coupon_code: None,
        },
    )
    .await?;
    let completed = matches!(
        outcome,
        db::orders::OrderOutcome::Applied {
            completed_referral_id: Some(_),
            ..
        }
    );
    if !completed {
        reasons.push("not_first_order".to_owned());
    }
    let rewards = db::referrals::reward_decisions(&mut *tx, referral_id).await?;
    for reason in rewards.iter().filter_map(|r| r.reason.clone()) {
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    // Nothing of the simulation may remain.
    tx.rollback().await?;
    let eligible = completed && rewards.iter().any(|r| r.status == RewardStatus::Issued);
    Ok(DryRunResponse {
        eligible,
        reasons,
        campaign_id,
        variant_id,
        rewards,
    })
}
