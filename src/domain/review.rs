//! The review queue: referrals a fraud rule held until a staff user decides.

use serde::Serialize;

use super::fraud::MaskedSignal;
use super::time::Timestamp;

super::sql_enum! {
    /// Where a review of a held referral stands.
    pub enum ReviewStatus = "review_status" {
        /// Waiting for a staff user.
        Open = "open",
        /// Approved: the rewards went back to their hold, or were released.
        Approved = "approved",
        /// Rejected: the rewards were rejected.
        Rejected = "rejected",
        /// The qualifying order was reversed first: nothing is left to decide.
        Withdrawn = "withdrawn",
    }
}

super::sql_enum! {
    /// What deciding a review did (`decide_review`).
    pub enum ReviewOutcome = "review_outcome" {
        /// Approved now.
        Approved = "approved",
        /// Rejected now.
        Rejected = "rejected",
        /// The referral has no review.
        NotFound = "not_found",
        /// The review was decided before (or withdrawn).
        AlreadyDecided = "already_decided",
    }
}

/// A referral held for review.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// The review's id (the queue's page cursor).
    pub id: i64,
    /// The referral held.
    pub referral_id: i32,
    /// Who referred.
    pub referrer_customer_id: Option<i32>,
    /// Who was referred.
    pub referred_customer_id: Option<i32>,
    /// The fraud rules that fired (`sameDevice`, `ipVelocity`, …).
    pub reasons: Vec<String>,
    /// Where it stands.
    pub status: ReviewStatus,
    /// The staff user who decided.
    pub decided_by: Option<i32>,
    /// Their note.
    pub note: Option<String>,
    /// When it was held.
    pub created_at: Timestamp,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
}

/// A review as the queue lists it: the review and the signals behind its verdict, masked.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItem {
    /// The review.
    #[serde(flatten)]
    pub review: Review,
    /// The friend's signals and the referral's (device, client address, email, phone,
    /// delivery address), masked, oldest first.
    pub signals: Vec<MaskedSignal>,
}
