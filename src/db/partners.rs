//! Referral partners (influencers, communities, shops' own codes).

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::partner::Partner;

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

/// Partners, newest first; only active ones unless `include_inactive`.
pub async fn list(db: impl PgExecutor<'_>, include_inactive: bool) -> sqlx::Result<Vec<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where $1 or is_active order by created_at desc, id",
        include_inactive
    )
    .fetch_all(db)
    .await
}

/// Partner `id`.
pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

/// Partner `id`, locked until the transaction ends.
pub async fn lock(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where id = $1 for update",
        id
    )
    .fetch_optional(db)
    .await
}

/// The partner whose code is `code` (case-insensitive), active or not.
pub async fn find_by_code(db: impl PgExecutor<'_>, code: &str) -> sqlx::Result<Option<Partner>> {
    sqlx::query_as!(
        Partner,
        "select id, code, partner_type, name, is_active, created_at, campaign_id
         from referral_partners where lower(code) = lower($1)",
        code
    )
    .fetch_optional(db)
    .await
}

/// Creates (`id` = `None`) or overwrites a partner.
pub async fn save(
    db: impl PgExecutor<'_>,
    id: Option<Uuid>,
    code: &str,
    partner_type: &str,
    name: Option<&str>,
    is_active: bool,
    campaign_id: Option<Uuid>,
) -> sqlx::Result<Partner> {
    sqlx::query_as!(
        Partner,
        "insert into referral_partners as p (id, code, partner_type, name, is_active, campaign_id)
         values (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6)
         on conflict (id) do update set code = excluded.code, partner_type = excluded.partner_type,
             name = excluded.name, is_active = excluded.is_active, campaign_id = excluded.campaign_id
         returning p.id, p.code, p.partner_type, p.name, p.is_active, p.created_at, p.campaign_id",
        id,
        code,
        partner_type,
        name,
        is_active,
        campaign_id
    )
    .fetch_one(db)
    .await
}
