//! Referral campaigns: their API shape, and the rule that lives outside SQL (sticky A/B
//! variant assignment).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::loyalty::Tier;
use super::referral::RewardKind;

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

/// A referral campaign, in TrustCart's snake_case shape: money as strings (`"100.00"`),
/// as TrustCart's raw-SQL rows send them. Keys after `updated_at` are Bondhu's.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Campaign {
    /// Campaign id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Whether new referrals can get it (also bounded by `starts_at`/`ends_at`).
    pub is_active: bool,
    /// The campaign referrals get when no partner or channel campaign applies.
    pub is_default: bool,
    /// `wallet`, `points`, `coupon`, `free_product` or `membership`.
    pub reward_type: RewardKind,
    /// Fixed taka (or coupon value) for the referrer.
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String, example = "100.00")]
    pub reward_referrer_amount: Decimal,
    /// Fixed taka (or coupon value) for the referred customer.
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String, example = "0.00")]
    pub reward_referred_amount: Decimal,
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
    /// The tier they raise it to (default `gold`).
    pub vip_membership_tier: Option<Tier>,
    /// When the campaign starts.
    #[serde(serialize_with = "crate::domain::time::millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ends.
    #[serde(serialize_with = "crate::domain::time::millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(serialize_with = "crate::domain::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "crate::domain::time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Referrals captured through this channel get this campaign.
    pub channel: Option<String>,
    /// The referrer's reward as a % of the qualifying order (instead of a fixed amount).
    #[serde(serialize_with = "money_string_opt")]
    #[schema(value_type = Option<String>)]
    pub reward_referrer_percent: Option<Decimal>,
    /// The referred customer's reward as a % of the qualifying order.
    #[serde(serialize_with = "money_string_opt")]
    #[schema(value_type = Option<String>)]
    pub reward_referred_percent: Option<Decimal>,
    /// Cap of the referrer's percentage reward (or of a percentage coupon's discount).
    #[serde(serialize_with = "money_string_opt")]
    #[schema(value_type = Option<String>)]
    pub reward_referrer_cap: Option<Decimal>,
    /// Cap of the referred customer's percentage reward.
    #[serde(serialize_with = "money_string_opt")]
    #[schema(value_type = Option<String>)]
    pub reward_referred_cap: Option<Decimal>,
    /// The smallest qualifying order that earns rewards.
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub min_order_amount: Decimal,
    /// The referrer's free product (`free_product` campaigns).
    pub referrer_free_product_id: Option<i32>,
    /// Its name, for the customer's reward list.
    pub referrer_free_product_name: Option<String>,
    /// The referred customer's free product on their first order.
    pub referred_free_product_id: Option<i32>,
    /// Its name.
    pub referred_free_product_name: Option<String>,
    /// How long issued coupons and free products stay valid.
    pub coupon_valid_days: i32,
    /// Most rewarded referrals per referrer per day.
    pub referrer_daily_limit: Option<i32>,
    /// Most rewarded referrals per referrer per month.
    pub referrer_monthly_limit: Option<i32>,
    /// Most rewarded referrals per referrer ever.
    pub referrer_lifetime_limit: Option<i32>,
    /// The most taka the campaign may pay in wallet rewards.
    #[serde(serialize_with = "money_string_opt")]
    #[schema(value_type = Option<String>)]
    pub budget_amount: Option<Decimal>,
    /// The most referrals the campaign may reward.
    pub budget_count: Option<i32>,
    /// Taka paid so far.
    #[serde(serialize_with = "money_string")]
    #[schema(value_type = String)]
    pub spent_amount: Decimal,
    /// Referrals rewarded so far.
    pub spent_count: i32,
    /// A/B variants.
    pub variants: Vec<Variant>,
    /// Milestone cash rewards.
    pub milestones: Vec<Milestone>,
}

/// An A/B variant of a campaign.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Variant {
    /// Variant id (absent when creating).
    #[serde(default, skip_deserializing)]
    pub id: i32,
    /// Name, unique in the campaign (`A`, `B`, `control`, …).
    pub name: String,
    /// Relative share of referrers (1–10000).
    pub weight: i32,
    /// Fixed taka for the referrer in this variant.
    #[serde(serialize_with = "money_string", deserialize_with = "lenient_decimal")]
    #[schema(value_type = String)]
    pub reward_referrer_amount: Decimal,
    /// Fixed taka for the referred customer in this variant.
    #[serde(serialize_with = "money_string", deserialize_with = "lenient_decimal")]
    #[schema(value_type = String)]
    pub reward_referred_amount: Decimal,
    /// Points for the referrer.
    #[serde(default)]
    pub reward_referrer_points: i32,
    /// Points for the referred customer.
    #[serde(default)]
    pub reward_referred_points: i32,
}

/// "Refer N friends, get ৳X": wallet cash on the Nth completed referral.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Milestone {
    /// Milestone id (absent when creating).
    #[serde(default, skip_deserializing)]
    pub id: i32,
    /// Completed referrals that reach it.
    pub referral_count: i32,
    /// Taka credited once.
    #[serde(serialize_with = "money_string", deserialize_with = "lenient_decimal")]
    #[schema(value_type = String)]
    pub reward_amount: Decimal,
}

/// Taka as TrustCart's numeric strings: `"100.00"`.
pub fn money_string<S: serde::Serializer>(
    value: &Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{value:.2}"))
}

/// `money_string` for optional amounts.
pub fn money_string_opt<S: serde::Serializer>(
    value: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => money_string(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// An amount sent as a JSON number or a numeric string (admin forms send both).
pub fn lenient_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Decimal, D::Error> {
    // Through `Value`: an untagged enum would lose serde_json's exact number text.
    let text = match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a number, found {other}"
            )));
        }
    };
    crate::domain::money::parse_decimal(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a number")))
}
