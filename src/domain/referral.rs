//! Referrals: who invited whom, on what terms, and whether it paid out.

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::loyalty::Tier;
use super::time::Timestamp;

super::sql_enum! {
    /// A referral's life.
    pub enum ReferralStatus = "referral_status" {
        /// Invited; the friend has not joined.
        Pending = "pending",
        /// The friend joined; their first order is not delivered yet.
        Registered = "registered",
        /// The friend's first order was delivered.
        Completed = "completed",
        /// The invitation lapsed.
        Expired = "expired",
    }
}

super::sql_enum! {
    /// The two sides of a referral.
    pub enum Side = "referral_side" {
        /// The customer (or partner) who referred.
        Referrer = "referrer",
        /// The friend who joined.
        Referred = "referred",
    }
}

super::sql_enum! {
    /// What a campaign pays, and what a reward decision is about.
    pub enum RewardKind = "reward_kind" {
        /// Taka in the wallet.
        Wallet = "wallet",
        /// Loyalty points.
        Points = "points",
        /// A single-use discount coupon.
        Coupon = "coupon",
        /// A free product on an order.
        FreeProduct = "free_product",
        /// A higher membership tier.
        Membership = "membership",
        /// Milestone cash ("refer 3 friends, get ৳100"); never a campaign's reward type.
        Milestone = "milestone",
    }
}

super::sql_enum! {
    /// Where a reward is in its life (see `migrations/20261202000040_reward_holds.sql`):
    /// `pending → released → clawed_back`, `pending → voided`,
    /// `pending → in_review → pending | released | rejected`, or `skipped`.
    pub enum RewardStatus = "reward_status" {
        /// Earned, in its hold (the return window): visible, never spendable.
        Pending = "pending",
        /// Paid or handed out: the hold ended (or there was none).
        Released = "released",
        /// Never issued; the decision records why (minimum, limits, budget, `fraud:<rule>`).
        Skipped = "skipped",
        /// Held by a fraud rule until a staff user decides; never released meanwhile.
        InReview = "in_review",
        /// Cancelled in its hold: the qualifying order was returned, cancelled or refunded.
        Voided = "voided",
        /// Taken back after release, by a reversing ledger entry (what the balance could
        /// not cover is owed).
        ClawedBack = "clawed_back",
        /// Refused by a staff user's review.
        Rejected = "rejected",
    }
}

impl RewardStatus {
    /// Whether the reward was earned and not taken away: in its hold, in review or
    /// released.
    pub fn is_earned(self) -> bool {
        matches!(self, Self::Pending | Self::InReview | Self::Released)
    }
}

super::sql_enum! {
    /// What completing a referral did (`complete_referral`).
    pub enum Completion = "completion_outcome" {
        /// The referral completed now and its rewards were issued.
        Completed = "completed",
        /// It had completed before; nothing changed.
        AlreadyCompleted = "already_completed",
        /// It is `pending` or `expired`: nobody registered through it.
        NotRegistered = "not_registered",
        /// No such referral.
        NotFound = "not_found",
    }
}

super::sql_enum! {
    /// Everything the referral event log records.
    pub enum EventType = "referral_event_type" {
        /// A shared link or QR card was opened.
        Clicked = "clicked",
        /// An invitation was sent.
        Invited = "invited",
        /// A customer joined with a share or invite code.
        Registered = "registered",
        /// A customer joined with a partner's code.
        PartnerAttributed = "partner_attributed",
        /// A code matched nothing.
        UnknownCode = "unknown_code",
        /// A customer tried their own code.
        SelfReferralBlocked = "self_referral_blocked",
        /// A customer who was already attributed came with another code.
        AttributionIgnored = "attribution_ignored",
        /// A referral completed.
        Completed = "completed",
        /// A delivered order did not complete the referral (and why).
        CompletionSkipped = "completion_skipped",
        /// A wallet or points reward was credited.
        RewardCredited = "reward_credited",
        /// A coupon reward was issued.
        RewardIssuedCoupon = "reward_issued_coupon",
        /// A free-product reward was issued.
        RewardIssuedFreeProduct = "reward_issued_free_product",
        /// A referrer's tier was raised.
        VipTierUpgraded = "vip_tier_upgraded",
        /// A milestone was paid.
        MilestoneReached = "milestone_reached",
        /// A milestone was reached that the budget could not pay.
        MilestoneSkipped = "milestone_skipped",
        /// An order redeemed a coupon.
        CouponRedeemed = "coupon_redeemed",
        /// An order carried a coupon that could not be redeemed (and why).
        CouponNotRedeemed = "coupon_not_redeemed",
        /// A qualifying order was cancelled or returned.
        QualifyingOrderReversed = "qualifying_order_reversed",
        /// A customer's review was turned into a share.
        ReviewCreated = "review_created",
        /// A share nudge was sent over WhatsApp.
        WhatsappReferralNudge = "whatsapp_referral_nudge",
        /// A reward was earned and is in its hold (or went back to it after a review).
        RewardPending = "reward_pending",
        /// A reward's hold ended and it was paid.
        RewardReleased = "reward_released",
        /// A reward in its hold was cancelled.
        RewardVoided = "reward_voided",
        /// A released reward was taken back.
        RewardClawedBack = "reward_clawed_back",
        /// A fraud rule held a reward for review.
        RewardHeldForReview = "reward_held_for_review",
        /// A review rejected a reward.
        RewardRejected = "reward_rejected",
        /// A referral was refused at attribution (payload `reason`: `blocklisted`); the
        /// customer registered without it.
        ReferralRefused = "referral_refused",
        /// A partner earned a commission, held until `releaseAt`.
        CommissionPending = "commission_pending",
        /// An order earned its partner nothing (payload `reason`: self-dealing, …).
        CommissionSkipped = "commission_skipped",
        /// A commission's hold ended: it can be paid.
        CommissionReleased = "commission_released",
        /// A partial refund shrank a percentage commission.
        CommissionAdjusted = "commission_adjusted",
        /// A commission in its hold was cancelled (the order was reversed).
        CommissionVoided = "commission_voided",
        /// A released or paid commission was taken back (what was paid is owed).
        CommissionClawedBack = "commission_clawed_back",
        /// A commission was paid in a payout batch.
        CommissionPaid = "commission_paid",
        /// A payout batch line was rejected: its commissions are unpaid again.
        CommissionPayoutRejected = "commission_payout_rejected",
    }
}

/// What a referral promised: its campaign's terms (with its A/B variant's amounts) as
/// they were when it was made (`customer_referrals.reward_terms`, written by the SQL
/// function `campaign_terms`). A side carries a fixed amount or a percentage, never both:
/// the snapshot already decided which one pays. Empty for a referral made without a
/// campaign.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[expect(missing_docs, reason = "one field per campaign column; see Campaign")]
pub struct RewardTerms {
    pub campaign_id: Option<Uuid>,
    pub variant_id: Option<i32>,
    pub reward_type: Option<RewardKind>,
    #[schema(value_type = Option<f64>)]
    pub reward_referrer_amount: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub reward_referred_amount: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub reward_referrer_percent: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub reward_referred_percent: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub reward_referrer_cap: Option<Decimal>,
    #[schema(value_type = Option<f64>)]
    pub reward_referred_cap: Option<Decimal>,
    pub reward_referrer_points: Option<i32>,
    pub reward_referred_points: Option<i32>,
    pub referrer_free_product_id: Option<i32>,
    pub referrer_free_product_name: Option<String>,
    pub referred_free_product_id: Option<i32>,
    pub referred_free_product_name: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub min_order_amount: Option<Decimal>,
    pub coupon_valid_days: Option<i32>,
    pub vip_referrals_threshold: Option<i32>,
    pub vip_membership_tier: Option<Tier>,
    /// How long the rewards stay pending after the delivery, in seconds.
    pub reward_hold_seconds: Option<i32>,
}

/// One reward decision for a referral: issued, or skipped with the reason.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RewardDecision {
    /// Who it is for.
    pub side: Side,
    /// What it is.
    pub kind: RewardKind,
    /// Issued or skipped.
    pub status: RewardStatus,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Taka.
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Decimal>,
    /// Points.
    pub points: Option<i32>,
    /// The tier a membership reward raises to.
    pub membership_tier: Option<Tier>,
}

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
    pub status: ReferralStatus,
    /// The reward kind promised when the referral was made.
    pub reward_type: RewardKind,
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
    pub first_order_date: Option<Timestamp>,
    /// When the referral was made.
    pub created_at: Timestamp,
    /// When it completed.
    pub completed_at: Option<Timestamp>,
    /// When the rewards of its completion leave their hold (the return window), or
    /// `null`: not completed, or never (a fraud rule blocked it, a review rejected it).
    pub hold_until: Option<Timestamp>,
    /// When its rewards were released (`rewardCredited` turns true then, not before).
    pub released_at: Option<Timestamp>,
    /// The fraud rules that fired when it completed (`sameDevice`, `ipVelocity`, …).
    pub fraud_reasons: Vec<String>,
    /// The campaign's terms as they were when the referral was made (what was promised).
    pub reward_terms: RewardTerms,
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
    pub reward_credited_at: Option<Timestamp>,
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
    /// Taka the referrer's referrals and milestones paid and kept: released, not clawed
    /// back.
    pub total_rewards_earned: String,
    /// Taka the referrer has earned that is still in its hold or in review.
    pub pending_rewards: String,
}

/// A referral as TrustCart's raw-SQL reads send it (`SELECT * FROM customer_referrals`):
/// snake_case columns, numerics as strings (`"100.00"`), integers and booleans as JSON
/// values, timestamps as ISO strings. Built from [`Referral`], the one reader of a
/// referral row, so both shapes always say the same thing; Bondhu's columns are added
/// after TrustCart's.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReferralRow {
    /// Referral id.
    pub id: i32,
    /// The customer who referred (`null` for a partner's referral).
    pub referrer_customer_id: Option<i32>,
    /// The customer who joined, once they have.
    pub referred_customer_id: Option<i32>,
    /// Who was invited, by email.
    pub referred_email: Option<String>,
    /// Who was invited, by phone (E.164).
    pub referred_phone: Option<String>,
    /// This referral's own invite code.
    pub referral_code: String,
    /// `pending`, `registered`, `completed` or `expired`.
    pub status: ReferralStatus,
    /// Taka promised to the referrer, as a numeric string.
    #[serde(serialize_with = "super::money::money_string")]
    #[schema(value_type = String)]
    pub reward_amount: Decimal,
    /// Whether the referrer's reward was paid.
    pub reward_credited: bool,
    /// Whether a qualifying order was delivered.
    pub first_order_placed: bool,
    /// When the qualifying order was placed.
    pub first_order_date: Option<Timestamp>,
    /// When the referral was made (for an invitation a friend claimed: when they joined).
    pub created_at: Timestamp,
    /// When it completed.
    pub completed_at: Option<Timestamp>,
    /// The code used (for an agent's referral, the referrer's share code).
    pub share_code_used: Option<String>,
    /// Where the code was captured.
    pub source_channel: Option<String>,
    /// The campaign whose terms apply.
    pub campaign_id: Option<Uuid>,
    /// The partner who brought the customer, if any.
    pub partner_id: Option<Uuid>,
    /// Taka promised to the referred customer, as a numeric string.
    #[serde(serialize_with = "super::money::money_string")]
    #[schema(value_type = String)]
    pub referred_reward_amount: Decimal,
    /// Whether the referred customer's reward was paid.
    pub referred_reward_credited: bool,
    /// The call-centre agent who captured it.
    pub agent_user_id: Option<i32>,
    /// The order that completed it.
    pub qualifying_order_id: Option<i32>,
    /// The reward kind promised (Bondhu).
    pub reward_type: RewardKind,
    /// The campaign's A/B variant (Bondhu).
    pub variant_id: Option<i32>,
    /// When the rewards leave their hold (Bondhu).
    pub hold_until: Option<Timestamp>,
    /// When the rewards were released (Bondhu).
    pub released_at: Option<Timestamp>,
}

impl From<Referral> for ReferralRow {
    fn from(r: Referral) -> Self {
        Self {
            id: r.id,
            referrer_customer_id: r.referrer_customer_id,
            referred_customer_id: r.referred_customer_id,
            referred_email: r.referred_email,
            referred_phone: r.referred_phone,
            referral_code: r.referral_code,
            status: r.status,
            reward_amount: r.reward_amount,
            reward_credited: r.reward_credited,
            first_order_placed: r.first_order_placed,
            first_order_date: r.first_order_date,
            created_at: r.created_at,
            completed_at: r.completed_at,
            share_code_used: r.share_code_used,
            source_channel: r.source_channel,
            campaign_id: r.campaign_id,
            partner_id: r.partner_id,
            referred_reward_amount: r.referred_reward_amount,
            referred_reward_credited: r.referred_reward_credited,
            agent_user_id: r.agent_user_id,
            qualifying_order_id: r.qualifying_order_id,
            reward_type: r.reward_type,
            variant_id: r.variant_id,
            hold_until: r.hold_until,
            released_at: r.released_at,
        }
    }
}
