//! The review queue: referrals a fraud rule held, and staff users' decisions.

use sqlx::PgPool;

use crate::db;
use crate::domain::review::{Review, ReviewItem, ReviewOutcome, ReviewStatus};
use crate::error::{Code, Error, Result};

/// Longest accepted note.
pub const MAX_NOTE_LEN: usize = 1000;

/// A page of the queue, newest first.
pub async fn queue(
    pool: &PgPool,
    status: ReviewStatus,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<ReviewItem>> {
    let reviews = db::holds::reviews(pool, Some(status), None, limit, before_id).await?;
    with_signals(pool, reviews).await
}

/// The reviews with their masked signals, read in one query for all of them.
async fn with_signals(pool: &PgPool, reviews: Vec<Review>) -> Result<Vec<ReviewItem>> {
    let ids: Vec<i32> = reviews.iter().map(|r| r.referral_id).collect();
    let mut signals = db::fraud::masked_signals(pool, &ids).await?;
    Ok(reviews
        .into_iter()
        .map(|review| {
            let signals = signals.remove(&review.referral_id).unwrap_or_default();
            ReviewItem { review, signals }
        })
        .collect())
}

/// Approves (the rewards go back to their hold, or are released if it is over) or
/// rejects (the rewards are rejected and never paid) the open review of a referral, as
/// staff user `user_id`. A review is decided once: a second decision is a 409.
pub async fn decide(
    pool: &PgPool,
    referral_id: i32,
    approve: bool,
    user_id: i32,
    note: Option<&str>,
) -> Result<ReviewItem> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_LEN) {
        return Err(Error::invalid_field(
            "note",
            format!("must be at most {MAX_NOTE_LEN} characters"),
        ));
    }
    let outcome = db::retry_transient(|| async {
        Ok(db::holds::decide_review(pool, referral_id, approve, user_id, note).await?)
    })
    .await?;
    match outcome {
        ReviewOutcome::Approved | ReviewOutcome::Rejected => {}
        ReviewOutcome::NotFound => return Err(not_held()),
        ReviewOutcome::AlreadyDecided => {
            return Err(Error::new(
                Code::ReviewAlreadyDecided,
                "This review was already decided",
            ));
        }
    }
    let review = db::holds::reviews(pool, None, Some(referral_id), 1, None).await?;
    with_signals(pool, review).await?.pop().ok_or_else(not_held)
}

fn not_held() -> Error {
    Error::new(
        Code::ReviewNotFound,
        "This referral was never held for review",
    )
}
