//! Referral campaigns: what an admin defines ([`CampaignSpec`], every settable field once,
//! typed, with its rules in [`CampaignChange::validate`]), the entity and read models the
//! API returns, and the rule that lives outside SQL (sticky A/B variant assignment).

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::channel::Channel;
use super::loyalty::Tier;
use super::money::{
    Amount, Money, Percent, money_string, money_string_opt, number_or_string, number_or_string_opt,
};
use super::referral::{RewardDecision, RewardKind};
use super::time::{RewardHold, Timestamp};
use crate::error::Problems;

/// A campaign variant and its share of referrers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weighted {
    /// Variant id.
    pub id: i32,
    /// Relative weight (≥ 1).
    pub weight: i32,
}

/// The variant of `campaign` that `subject` (a referrer's id, or a partner's) belongs to.
///
/// The choice is a pure function of the campaign, the subject and the variants' ids and
/// weights: the same referrer always lands in the same variant (sticky), with no state to
/// store, and the shares follow the weights. Variants are taken in id order.
pub fn pick_variant(campaign: Uuid, subject: &str, variants: &[Weighted]) -> Option<i32> {
    let total: u64 = variants
        .iter()
        .map(|v| u64::try_from(v.weight.max(0)).unwrap_or(0))
        .sum();
    if total == 0 {
        return None;
    }
    let digest = Sha256::digest(format!("{campaign}:{subject}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let mut point = u64::from_be_bytes(bytes) % total;
    let mut sorted = variants.to_vec();
    sorted.sort_by_key(|v| v.id);
    for variant in sorted {
        let weight = u64::try_from(variant.weight.max(0)).unwrap_or(0);
        if point < weight {
            return Some(variant.id);
        }
        point -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_sticky_and_follows_the_weights() {
        let campaign = Uuid::from_u128(7);
        let variants = [Weighted { id: 1, weight: 3 }, Weighted { id: 2, weight: 1 }];
        let mut counts = [0usize; 2];
        for referrer in 0..10_000 {
            let subject = referrer.to_string();
            let first = pick_variant(campaign, &subject, &variants).unwrap();
            assert_eq!(pick_variant(campaign, &subject, &variants), Some(first));
            // The order the variants are listed in does not matter.
            let reversed = [variants[1], variants[0]];
            assert_eq!(pick_variant(campaign, &subject, &reversed), Some(first));
            counts[(first - 1) as usize] += 1;
        }
        // 75 % / 25 %, within two points.
        assert!((7300..=7700).contains(&counts[0]), "{counts:?}");
        assert_eq!(pick_variant(campaign, "1", &[]), None);
    }
}

/// A campaign as an admin defines it: every settable field, once. TrustCart's snake_case
/// keys, money as strings (`"100.00"`) when serialised; a JSON number or a numeric string
/// accepted when deserialised. The same JSON is the base an update is merged over
/// ([`CampaignSpec::patched`]) and what `save_campaign` (SQL) writes, so no other list of
/// these fields exists. The bounds of amounts are the types' ([`crate::domain::money`]);
/// the rules between fields are [`CampaignChange::validate`]'s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignSpec {
    /// Name (trimmed; 1–200 characters).
    #[serde(deserialize_with = "trimmed")]
    pub name: String,
    /// Whether new referrals can get it (also bounded by `starts_at`/`ends_at`).
    pub is_active: bool,
    /// The campaign referrals get when no partner or channel campaign applies.
    pub is_default: bool,
    /// `wallet`, `points`, `coupon`, `free_product` or `membership`.
    #[serde(deserialize_with = "reward_kind")]
    pub reward_type: RewardKind,
    /// Fixed taka (or coupon value) for the referrer.
    #[serde(serialize_with = "money_string", deserialize_with = "number_or_string")]
    #[schema(value_type = String, example = "100.00")]
    pub reward_referrer_amount: Amount,
    /// Fixed taka (or coupon value) for the referred customer.
    #[serde(serialize_with = "money_string", deserialize_with = "number_or_string")]
    #[schema(value_type = String, example = "0.00")]
    pub reward_referred_amount: Amount,
    /// Points for the referrer (`points` campaigns).
    pub reward_referrer_points: i32,
    /// Points for the referred customer.
    pub reward_referred_points: i32,
    /// TrustCart's offer ids, kept for compatibility (Bondhu issues its own coupons).
    pub referrer_offer_id: Option<i32>,
    /// TrustCart's offer ids, kept for compatibility.
    pub referred_offer_id: Option<i32>,
    /// Completed referrals that raise the referrer's membership tier.
    pub vip_referrals_threshold: Option<i32>,
    /// The tier they raise it to (default `gold`); TrustCart's form sends `"none"` for none.
    #[serde(deserialize_with = "vip_tier")]
    pub vip_membership_tier: Option<Tier>,
    /// When the campaign starts.
    pub starts_at: Option<Timestamp>,
    /// When it ends.
    pub ends_at: Option<Timestamp>,
    /// Referrals captured through this channel get this campaign (trimmed, lowercased).
    #[serde(deserialize_with = "channel_name")]
    pub channel: Option<String>,
    /// The referrer's reward as a % of the qualifying order (instead of a fixed amount).
    #[serde(
        serialize_with = "money_string_opt",
        deserialize_with = "number_or_string_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub reward_referrer_percent: Option<Percent>,
    /// The referred customer's reward as a % of the qualifying order.
    #[serde(
        serialize_with = "money_string_opt",
        deserialize_with = "number_or_string_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub reward_referred_percent: Option<Percent>,
    /// Cap of the referrer's percentage reward (or of a percentage coupon's discount).
    #[serde(
        serialize_with = "money_string_opt",
        deserialize_with = "number_or_string_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub reward_referrer_cap: Option<Money>,
    /// Cap of the referred customer's percentage reward.
    #[serde(
        serialize_with = "money_string_opt",
        deserialize_with = "number_or_string_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub reward_referred_cap: Option<Money>,
    /// The smallest qualifying order that earns rewards.
    #[serde(serialize_with = "money_string", deserialize_with = "number_or_string")]
    #[schema(value_type = String)]
    pub min_order_amount: Amount,
    /// The referrer's free product (`free_product` campaigns).
    pub referrer_free_product_id: Option<i32>,
    /// Its name, for the customer's reward list.
    pub referrer_free_product_name: Option<String>,
    /// The referred customer's free product on their first order.
    pub referred_free_product_id: Option<i32>,
    /// Its name.
    pub referred_free_product_name: Option<String>,
    /// How long issued coupons and free products stay valid (1–3650 days).
    pub coupon_valid_days: i32,
    /// Most rewarded referrals per referrer per day.
    pub referrer_daily_limit: Option<i32>,
    /// Most rewarded referrals per referrer per month.
    pub referrer_monthly_limit: Option<i32>,
    /// Most rewarded referrals per referrer ever.
    pub referrer_lifetime_limit: Option<i32>,
    /// The most taka the campaign may pay in wallet rewards.
    #[serde(
        serialize_with = "money_string_opt",
        deserialize_with = "number_or_string_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub budget_amount: Option<Money>,
    /// The most referrals the campaign may reward.
    pub budget_count: Option<i32>,
    /// How long rewards stay pending after the delivery before they can be spent (the
    /// return window): `"0"`, `"90s"`, `"12h"`, `"7d"` (the default), at most `"90d"`.
    #[schema(value_type = String, example = "7d")]
    pub reward_hold: RewardHold,
}

impl Default for CampaignSpec {
    /// A new campaign: a wallet campaign paying nothing until amounts are set.
    fn default() -> Self {
        let zero = Amount::new(Decimal::ZERO).expect("zero is an amount");
        Self {
            name: String::new(),
            is_active: true,
            is_default: false,
            reward_type: RewardKind::Wallet,
            reward_referrer_amount: zero,
            reward_referred_amount: zero,
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
            min_order_amount: zero,
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
            reward_hold: RewardHold::DEFAULT,
        }
    }
}

fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(String::deserialize(d)?.trim().to_owned())
}

const REWARD_TYPES: &str = "must be one of wallet, points, coupon, free_product, membership";

/// A reward kind, case-insensitively (a campaign cannot be a `milestone` one: see
/// [`CampaignChange::validate`]).
fn reward_kind<'de, D: Deserializer<'de>>(d: D) -> Result<RewardKind, D::Error> {
    let raw = String::deserialize(d)?;
    RewardKind::from_name(&raw.trim().to_ascii_lowercase())
        .ok_or_else(|| serde::de::Error::custom(REWARD_TYPES))
}

/// A tier above `none`, case-insensitively; `null` and `"none"` are no tier.
fn vip_tier<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tier>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    match Tier::from_name(&raw.trim().to_ascii_lowercase()) {
        Some(Tier::None) => Ok(None),
        Some(tier) => Ok(Some(tier)),
        None => Err(serde::de::Error::custom(
            "must be none, silver, gold or permanent",
        )),
    }
}

fn channel_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|c| c.trim().to_ascii_lowercase()))
}

/// What a campaign has paid so far (kept by SQL's `spend_budget`, never set through the API).
#[derive(Clone, Copy, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Spent {
    /// Taka paid so far.
    #[serde(rename = "spent_amount", serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub amount: Decimal,
    /// Referrals rewarded so far.
    #[serde(rename = "spent_count")]
    pub count: i32,
}

/// A create or an update: the campaign's spec after it, and the variants and milestones it
/// replaces when it names them. Its JSON is a spec's keys plus `variants` and `milestones`.
/// As a request body (the OpenAPI document's shape for it) every key is optional: absent
/// keys keep their value (on create: [`CampaignSpec::default`]'s), and camelCase is
/// accepted.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignChange {
    /// Every settable field, as it will be.
    #[serde(flatten)]
    pub spec: CampaignSpec,
    /// Replaces the A/B variants (matched by name) when present.
    pub variants: Option<Vec<Variant>>,
    /// Replaces the milestones (matched by referral count) when present.
    pub milestones: Option<Vec<Milestone>>,
}

impl CampaignSpec {
    /// This spec with `patch` applied: a JSON object of snake_case keys, merged over this
    /// spec's own JSON (absent keys keep their value, `null` clears a nullable field and
    /// keeps one that cannot be empty; unknown keys are ignored, as TrustCart's form sends
    /// back whole rows), then read back through the field types. Every field that does not
    /// read is named in the problems (and keeps its current value, so that the rules of
    /// [`CampaignChange::validate`] can still report on the rest).
    pub fn patched(&self, mut patch: Map<String, Value>) -> (CampaignChange, Problems) {
        let mut problems = Problems::default();
        let variants = replacement(patch.remove("variants"), "variants", &mut problems);
        let milestones = replacement(patch.remove("milestones"), "milestones", &mut problems);
        let Ok(Value::Object(current)) = serde_json::to_value(self) else {
            unreachable!("a spec serialises as an object")
        };
        let mut merged = current.clone();
        for (key, value) in patch {
            if let Some(slot) = merged.get_mut(&key) {
                *slot = value;
            }
        }
        // Each failed read restores one field to its current value, which reads: at most
        // one pass per field.
        loop {
            let error = match serde_path_to_error::deserialize(Value::Object(merged.clone())) {
                Ok(spec) => {
                    let change = CampaignChange {
                        spec,
                        variants,
                        milestones,
                    };
                    return (change, problems);
                }
                Err(error) => error,
            };
            let field = match error.path().iter().next() {
                Some(serde_path_to_error::Segment::Map { key }) => key.clone(),
                _ => String::from("body"),
            };
            match (merged.get_mut(&field), current.get(&field)) {
                (Some(sent), Some(kept)) if sent != kept => {
                    if !sent.is_null() {
                        problems.add(field.as_str(), error.inner().to_string());
                    }
                    *sent = kept.clone();
                }
                // Not a field that a restore can mend (a bug, not bad input): refuse the
                // change rather than loop.
                _ => {
                    problems.add(field.as_str(), error.inner().to_string());
                    let change = CampaignChange {
                        spec: self.clone(),
                        variants,
                        milestones,
                    };
                    return (change, problems);
                }
            }
        }
    }
}

/// A replacement list of variants or milestones: absent or `null` keeps the current ones.
fn replacement<T: for<'de> Deserialize<'de>>(
    value: Option<Value>,
    field: &str,
    problems: &mut Problems,
) -> Option<Vec<T>> {
    match value {
        None | Some(Value::Null) => None,
        Some(value) => match serde_path_to_error::deserialize(value) {
            Ok(list) => Some(list),
            Err(error) => {
                problems.add(field, error.to_string());
                None
            }
        },
    }
}

impl CampaignChange {
    /// Every rule of a campaign definition that its field types do not already carry,
    /// given what the campaign has already paid (`Spent::default()` for a new one).
    pub fn validate(&self, spent: Spent) -> Problems {
        let mut problems = Problems::default();
        let f = &self.spec;
        problems.check(!f.name.is_empty(), "name", "must not be empty");
        problems.check(
            f.name.chars().count() <= 200,
            "name",
            "must be at most 200 characters",
        );
        problems.check(
            f.reward_type != RewardKind::Milestone,
            "reward_type",
            REWARD_TYPES,
        );
        for (field, points) in [
            ("reward_referrer_points", f.reward_referrer_points),
            ("reward_referred_points", f.reward_referred_points),
        ] {
            problems.check(
                (0..=1_000_000).contains(&points),
                field,
                "must be 0 to 1000000",
            );
        }
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
            f.budget_amount.is_none_or(|b| b.get() >= spent.amount),
            "budget_amount",
            "must not be below what the campaign has already paid",
        );
        problems.check(
            f.budget_count.is_none_or(|b| b >= spent.count),
            "budget_count",
            "must not be below the referrals the campaign has already rewarded",
        );

        if let Some(variants) = &self.variants {
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
                    v.reward_referrer_points >= 0 && v.reward_referred_points >= 0,
                    "variants",
                    "points must not be negative",
                );
            }
        }
        if let Some(milestones) = &self.milestones {
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
            }
        }
        problems
    }
}

/// A referral campaign as the API returns it, in TrustCart's snake_case shape: money as
/// strings (`"100.00"`), as TrustCart's raw-SQL rows send them.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    /// Campaign id.
    pub id: Uuid,
    /// What the admin defined.
    #[serde(flatten)]
    pub spec: CampaignSpec,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// What it has paid.
    #[serde(flatten)]
    pub spent: Spent,
    /// A/B variants.
    pub variants: Vec<Variant>,
    /// Milestone cash rewards.
    pub milestones: Vec<Milestone>,
}

/// An A/B variant of a campaign.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Variant {
    /// Variant id (absent when creating).
    #[serde(default, skip_deserializing)]
    pub id: i32,
    /// Name, unique in the campaign (`A`, `B`, `control`, …).
    pub name: String,
    /// Relative share of referrers (1–10000).
    pub weight: i32,
    /// Fixed taka for the referrer in this variant.
    #[serde(serialize_with = "money_string", deserialize_with = "number_or_string")]
    #[schema(value_type = String)]
    pub reward_referrer_amount: Amount,
    /// Fixed taka for the referred customer in this variant.
    #[serde(serialize_with = "money_string", deserialize_with = "number_or_string")]
    #[schema(value_type = String)]
    pub reward_referred_amount: Amount,
    /// Points for the referrer.
    #[serde(default)]
    pub reward_referrer_points: i32,
    /// Points for the referred customer.
    #[serde(default)]
    pub reward_referred_points: i32,
}

/// "Refer N friends, get ৳X": wallet cash on the Nth completed referral.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Milestone {
    /// Milestone id (absent when creating).
    #[serde(default, skip_deserializing)]
    pub id: i32,
    /// Completed referrals that reach it.
    pub referral_count: i32,
    /// Taka credited once.
    #[serde(serialize_with = "money_string", deserialize_with = "number_or_string")]
    #[schema(value_type = String)]
    pub reward_amount: Money,
}

/// The campaign's referrals and rewards by variant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignReport {
    /// The campaign.
    pub campaign: Campaign,
    /// One line per variant (and one for referrals without a variant, if any).
    pub variants: Vec<VariantReport>,
}

/// One variant's line of a campaign report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub wallet_amount: Decimal,
    /// Points issued.
    pub points: i64,
}

/// What a referral would earn, and why not (the dry run's answer).
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
    /// The answer for a referral refused before anything is simulated.
    pub fn refused(reason: &str) -> Self {
        Self {
            eligible: false,
            reasons: vec![reason.to_owned()],
            campaign_id: None,
            variant_id: None,
            rewards: Vec::new(),
        }
    }
}

#[cfg(test)]
mod spec_tests {
    use serde_json::json;

    use super::*;

    fn patch(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else { panic!() };
        map
    }

    fn fields(problems: Problems) -> Vec<String> {
        let Err(crate::error::Error::Api { fields, .. }) =
            problems.finish(crate::error::Code::InvalidCampaign)
        else {
            return Vec::new();
        };
        fields.into_keys().collect()
    }

    #[test]
    fn a_patch_keeps_absent_keys_clears_nulls_and_reads_strings() {
        let base = CampaignSpec {
            name: "Eid".into(),
            budget_count: Some(5),
            ..CampaignSpec::default()
        };
        let (change, problems) = base.patched(patch(json!({
            "reward_referrer_amount": "150", "budget_count": null, "name": null,
            "vip_membership_tier": "None", "id": "ignored"
        })));
        assert!(problems.is_empty());
        assert_eq!(change.spec.name, "Eid", "null keeps what cannot be empty");
        assert_eq!(change.spec.budget_count, None);
        assert_eq!(change.spec.reward_referrer_amount.to_string(), "150.00");
        assert_eq!(change.spec.vip_membership_tier, None);
        assert!(change.variants.is_none() && change.milestones.is_none());
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let (change, mut problems) = CampaignSpec::default().patched(patch(json!({
            "name": " ", "reward_referrer_amount": -1, "reward_referred_amount": "abc",
            "reward_type": "lottery", "reward_referrer_percent": 10,
            "milestones": [{ "referral_count": 3, "reward_amount": 0 }]
        })));
        problems.append(change.validate(Spent::default()));
        assert_eq!(
            fields(problems),
            [
                "milestones",
                "name",
                "reward_referred_amount",
                "reward_referrer_amount",
                "reward_referrer_cap",
                "reward_type",
            ]
        );
    }

    #[test]
    fn a_budget_cannot_drop_below_what_was_spent() {
        let change = CampaignChange {
            spec: CampaignSpec {
                name: "x".into(),
                budget_count: Some(1),
                budget_amount: Some(Money::new(Decimal::from(50)).unwrap()),
                ..CampaignSpec::default()
            },
            variants: None,
            milestones: None,
        };
        let spent = Spent {
            amount: Decimal::from(100),
            count: 2,
        };
        assert_eq!(
            fields(change.validate(spent)),
            ["budget_amount", "budget_count"]
        );
        assert!(change.validate(Spent::default()).is_empty());
    }
}
