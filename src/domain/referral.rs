//! Referrals: who invited whom, on what terms, and whether it paid out.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::time::{millis, millis_opt};

/// A referral, in TrustCart's entity shape.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Referral {
    /// Referral id.
    pub id: i32,
    /// The customer who referred (`null` when a partner's code brought the customer).
    pub referrer_customer_id: Option<i32>,
    /// The customer who joined, once they have.
    pub referred_customer_id: Option<i32>,
    /// Who was invited, for invitations by email.
    pub referred_email: Option<String>,
    /// Who was invited, for invitations by phone.
    pub referred_phone: Option<String>,
    /// This referral's own invite code.
    pub referral_code: String,
    /// The code the referred customer used, as typed.
    pub share_code_used: Option<String>,
    /// Where the code was captured (see the channel list).
    pub source_channel: Option<String>,
    /// The campaign whose terms apply.
    pub campaign_id: Option<Uuid>,
    /// The partner who brought the customer, if any.
    pub partner_id: Option<Uuid>,
    /// The A/B variant of the campaign this referral was assigned to.
    pub variant_id: Option<i32>,
    /// The call-centre agent who captured the referral, if any.
    pub agent_user_id: Option<i32>,
    /// The order that completed the referral.
    pub qualifying_order_id: Option<i32>,
    /// `pending` (invited), `registered` (joined), `completed` (first order delivered) or `expired`.
    pub status: String,
    /// The reward kind promised when the referral was made.
    pub reward_type: String,
    /// Taka promised to the referrer (snapshotted from the campaign).
    pub reward_amount: Decimal,
    /// Whether the referrer's reward was paid.
    pub reward_credited: bool,
    /// Taka promised to the referred customer.
    pub referred_reward_amount: Decimal,
    /// Whether the referred customer's reward was paid.
    pub referred_reward_credited: bool,
    /// Whether a qualifying order was delivered.
    pub first_order_placed: bool,
    /// When the qualifying order was placed.
    #[serde(serialize_with = "millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_order_date: Option<DateTime<Utc>>,
    /// When the referral was made.
    #[serde(serialize_with = "millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When it completed.
    #[serde(serialize_with = "millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
    /// The campaign's terms as they were when the referral was made (what was promised).
    #[schema(value_type = Object)]
    pub reward_terms: serde_json::Value,
}

/// A referral in a list, with the wallet transaction that paid the referrer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferralListItem {
    /// The referral.
    #[serde(flatten)]
    pub referral: Referral,
    /// The wallet transaction that paid the referrer's reward.
    pub reward_transaction_id: Option<i32>,
    /// When that transaction was posted.
    #[serde(serialize_with = "millis_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reward_credited_at: Option<DateTime<Utc>>,
}

/// A referrer's counts, as TrustCart sends them: every value is a string.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReferralStats {
    /// All referrals made.
    pub total_referrals: String,
    /// Referrals whose friend's first order was delivered.
    pub completed_referrals: String,
    /// Referrals still waiting: invited or joined but not yet completed. (TrustCart
    /// counted only `pending` here and hid joined friends, D8.)
    pub pending_referrals: String,
    /// Of the pending ones: invited, not yet joined.
    pub invited_referrals: String,
    /// Of the pending ones: joined, first order not yet delivered.
    pub registered_referrals: String,
    /// Taka actually credited to the referrer's wallet for referrals, from the ledger.
    pub total_rewards_earned: String,
}
