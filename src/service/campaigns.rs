//! Defining campaigns: create, update (a patch over the current spec), list, report.
//! What a campaign may be is decided in `domain::campaign`; this module only loads,
//! locks and saves.

use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::{self, ReportsDb};
use crate::domain::campaign::{Campaign, CampaignChange, CampaignReport, CampaignSpec, Spent};
use crate::error::{Code, Error, Problems, Result};

/// A page of campaigns, newest first: at most `limit`, after campaign `before_id` (the last
/// of the previous page; 400 `invalid_query` when it names no campaign).
pub async fn list(
    pool: &PgPool,
    include_inactive: bool,
    before_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Campaign>> {
    let mut conn = pool.acquire().await?;
    let before = match before_id {
        None => None,
        Some(id) => Some(
            db::campaigns::position(&mut *conn, id)
                .await?
                .ok_or_else(|| super::unknown_cursor("beforeId", "campaign"))?,
        ),
    };
    Ok(db::campaigns::list(&mut conn, include_inactive, before, limit).await?)
}

/// Creates a campaign from `patch` (snake_case keys) over a new campaign's defaults.
pub async fn create(pool: &PgPool, patch: Map<String, Value>) -> Result<Campaign> {
    let change = checked(CampaignSpec::default().patched(patch), Spent::default())?;
    let mut tx = pool.begin().await?;
    let campaign = save(&mut tx, None, change).await?;
    tx.commit().await?;
    Ok(campaign)
}

/// Updates campaign `id` with `patch`: absent keys are kept, `null` clears.
pub async fn update(pool: &PgPool, id: Uuid, patch: Map<String, Value>) -> Result<Campaign> {
    let mut tx = pool.begin().await?;
    let current = db::campaigns::lock(&mut tx, id)
        .await?
        .ok_or_else(campaign_not_found)?;
    let change = checked(current.spec.patched(patch), current.spent)?;
    if current.spec.is_default && !change.spec.is_default {
        return Err(Error::new(
            Code::DefaultCampaignRequired,
            "There must be a default campaign: make another campaign the default instead",
        ));
    }
    let campaign = save(&mut tx, Some(id), change).await?;
    tx.commit().await?;
    Ok(campaign)
}

/// The change, if it reads and keeps every rule; else one 422 naming every field.
fn checked(
    (change, mut problems): (CampaignChange, Problems),
    spent: Spent,
) -> Result<CampaignChange> {
    problems.append(change.validate(spent));
    problems.finish(Code::InvalidCampaign)?;
    Ok(change)
}

/// Writes a campaign with its variants and milestones, in the caller's transaction.
async fn save(
    conn: &mut sqlx::PgConnection,
    id: Option<Uuid>,
    change: CampaignChange,
) -> Result<Campaign> {
    let id = db::campaigns::save(conn, id, &change.spec).await?;
    if let Some(variants) = &change.variants {
        db::campaigns::replace_variants(conn, id, variants).await?;
    }
    if let Some(milestones) = &change.milestones {
        db::campaigns::replace_milestones(conn, id, milestones).await?;
    }
    db::campaigns::find(conn, id)
        .await?
        .ok_or_else(campaign_not_found)
}

/// The 404 of a campaign id that names no campaign.
pub fn campaign_not_found() -> Error {
    Error::new(Code::CampaignNotFound, "Campaign not found")
}

/// The report of campaign `id`, from the reports' database.
pub async fn report(reports: &ReportsDb, id: Uuid) -> Result<CampaignReport> {
    let mut tx = reports.begin().await?;
    let campaign = db::campaigns::find(&mut tx, id)
        .await?
        .ok_or_else(campaign_not_found)?;
    let variants = db::campaigns::report(&mut *tx, id).await?;
    Ok(CampaignReport { campaign, variants })
}
