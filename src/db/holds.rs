//! The reward lifecycle after completion: releasing holds, reversals, refunds and reviews
//! (the SQL functions of `migrations/20261202000040_reward_holds.sql`).

use rust_decimal::Decimal;
use sqlx::PgExecutor;

use crate::domain::order::RefundOutcome;
use crate::domain::review::{Review, ReviewOutcome, ReviewStatus};
use crate::domain::time::Timestamp;

/// Claims one referral whose hold is over (skipping any another instance is releasing)
/// and releases its rewards, in one statement (the release job runs it in a transaction
/// of its own). `None` when nothing is due.
pub async fn release_next_due(db: impl PgExecutor<'_>) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(r#"select release_due_referral() as "id""#)
        .fetch_one(db)
        .await
}

/// A refund to record.
#[derive(Debug)]
pub struct Refund<'a> {
    /// The order refunded.
    pub order_id: i32,
    /// Taka refunded, validated positive.
    pub amount: Decimal,
    /// Why, for the audit.
    pub reason: &'a str,
    /// Makes the refund happen once per order.
    pub idempotency_key: &'a str,
    /// Who recorded it (`user:3`, `api_key:2`).
    pub created_by: &'a str,
}

/// What recording a refund did.
#[derive(Debug)]
pub struct RefundResult {
    /// The outcome.
    pub outcome: RefundOutcome,
    /// The refund row (new or replayed).
    pub refund_id: Option<i32>,
    /// Everything refunded on the order so far.
    pub refunded_amount: Option<Decimal>,
    /// The referral the refund reversed, if any.
    pub reversed_referral_id: Option<i32>,
}

/// Records a refund and reverses the referral it undoes (one statement: `refund_order`).
pub async fn refund(db: impl PgExecutor<'_>, refund: &Refund<'_>) -> sqlx::Result<RefundResult> {
    sqlx::query_as!(
        RefundResult,
        r#"select outcome as "outcome!: RefundOutcome", refund_id, refunded_amount,
                  reversed_referral_id
           from refund_order($1, $2, $3, $4, $5)"#,
        refund.order_id,
        refund.amount,
        refund.reason,
        refund.idempotency_key,
        refund.created_by,
    )
    .fetch_one(db)
    .await
}

/// Decides the open review of a referral (`decide_review`).
pub async fn decide_review(
    db: impl PgExecutor<'_>,
    referral_id: i32,
    approve: bool,
    user_id: i32,
    note: Option<&str>,
) -> sqlx::Result<ReviewOutcome> {
    sqlx::query_scalar!(
        r#"select decide_review($1, $2, $3, $4) as "outcome!: ReviewOutcome""#,
        referral_id,
        approve,
        user_id,
        note,
    )
    .fetch_one(db)
    .await
}

/// Reviews, newest first, at most `limit`, older than `before_id` if given: those in
/// `status` (the queue), or those of one referral (its newest first), or both.
pub async fn reviews(
    db: impl PgExecutor<'_>,
    status: Option<ReviewStatus>,
    referral_id: Option<i32>,
    limit: i64,
    before_id: Option<i64>,
) -> sqlx::Result<Vec<Review>> {
    sqlx::query_as!(
        Review,
        r#"select v.id, v.referral_id, r.referrer_customer_id, r.referred_customer_id, v.reasons,
                  v.status as "status: _", v.decided_by, v.note, v.created_at,
                  v.decided_at as "decided_at: Timestamp"
           from referral_reviews v
           join customer_referrals r on r.id = v.referral_id
           where ($1::review_status is null or v.status = $1)
             and ($2::integer is null or v.referral_id = $2)
             and ($4::bigint is null or v.id < $4)
           order by v.id desc
           limit $3"#,
        status as Option<ReviewStatus>,
        referral_id,
        limit,
        before_id,
    )
    .fetch_all(db)
    .await
}
