//! Referral partners (influencers, communities, shops' own codes).

use sqlx::PgExecutor;
use uuid::Uuid;

/// A partner matched by code.
#[derive(Debug)]
pub struct PartnerMatch {
    /// Partner id.
    pub id: Uuid,
    /// The code's canonical spelling.
    pub code: String,
}

/// The active partner whose code is `code`, compared case-insensitively.
pub async fn find_active_by_code(
    db: impl PgExecutor<'_>,
    code: &str,
) -> sqlx::Result<Option<PartnerMatch>> {
    sqlx::query_as!(
        PartnerMatch,
        "select id, code from referral_partners where lower(code) = lower($1) and is_active",
        code
    )
    .fetch_optional(db)
    .await
}
