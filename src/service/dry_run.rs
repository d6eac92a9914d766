//! The dry run: what a referral would earn, and why not, asked of the engine itself.

use crate::domain::time::Timestamp;
use sqlx::PgPool;
use uuid::Uuid;

use super::campaigns::campaign_not_found;
use crate::db;
use crate::domain::campaign::{DryRunResponse, Weighted};
use crate::domain::channel::Channel;
use crate::domain::money::OrderTotal;
use crate::domain::referral::ReferralStatus;
use crate::error::{Code, Error, Result};

/// What to simulate, parsed.
#[derive(Debug)]
pub struct Simulation {
    /// The referring customer.
    pub referrer_customer_id: i32,
    /// The referred customer.
    pub referred_customer_id: i32,
    /// The qualifying order's total.
    pub order_amount: OrderTotal,
    /// Simulate under this campaign instead of the one the referral would get.
    pub campaign_id: Option<Uuid>,
    /// The channel the code would come through.
    pub channel: Channel,
}

/// Answers "what would this referral earn?" by doing it — creating the referral and a
/// delivered order and completing it through the very functions a real delivery uses — in
/// a transaction that is always rolled back. The answer cannot drift from the engine.
pub async fn dry_run(pool: &PgPool, request: Simulation) -> Result<DryRunResponse> {
    let order_amount = request.order_amount.get();
    let channel = request.channel;
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
            let now = Timestamp::now();
            let running = campaign.spec.is_active
                && campaign.spec.starts_at.is_none_or(|s| s <= now)
                && campaign.spec.ends_at.is_none_or(|e| e > now);
            if !running {
                reasons.push("campaign_inactive".to_owned());
            }
            let choice = db::referrals::CampaignChoice {
                campaign_id: id,
                variants: campaign
                    .variants
                    .iter()
                    .map(|v| Weighted {
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
    let eligible = completed && rewards.iter().any(|r| r.status.is_earned());
    Ok(DryRunResponse {
        eligible,
        reasons,
        campaign_id,
        variant_id,
        rewards,
    })
}
