//! Referral partners: influencers, communities and shops with their own codes.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::domain::partner::Partner;
use crate::error::{Code, Error, Result};

/// What an admin asks to set on a partner. `None` keeps the current value (or takes the
/// default on creation); `Some(None)` clears `name` or `campaign_id`.
#[derive(Debug, Default)]
pub struct PartnerChanges {
    /// The code (trimmed here; required on creation).
    pub code: Option<String>,
    /// `influencer`, `community`, `shop`, … (1 to 30 characters, lower-cased here).
    pub partner_type: Option<String>,
    /// Display name (at most 200 characters; blank clears it).
    pub name: Option<Option<String>>,
    /// Whether the code attributes anyone.
    pub is_active: Option<bool>,
    /// The campaign the partner's customers get.
    pub campaign_id: Option<Option<Uuid>>,
}

/// The 404 of a partner id or code that names no partner.
pub(crate) fn partner_not_found() -> Error {
    Error::new(Code::PartnerNotFound, "Partner not found")
}

/// Partners, newest first.
pub async fn list(pool: &PgPool, include_inactive: bool) -> Result<Vec<Partner>> {
    Ok(db::partners::list(pool, include_inactive).await?)
}

/// Creates (`id` = `None`) or updates a partner.
pub async fn save(pool: &PgPool, id: Option<Uuid>, input: PartnerChanges) -> Result<Partner> {
    let mut tx = pool.begin().await?;
    let current = match id {
        Some(id) => Some(
            db::partners::lock(&mut *tx, id)
                .await?
                .ok_or_else(partner_not_found)?,
        ),
        None => None,
    };
    let code = match (input.code.map(|c| c.trim().to_owned()), &current) {
        (Some(code), _) => code,
        (None, Some(current)) => current.code.clone(),
        (None, None) => return Err(Error::invalid_field("code", "is required")),
    };
    let partner_type = input
        .partner_type
        .map(|t| t.trim().to_ascii_lowercase())
        .or_else(|| current.as_ref().map(|c| c.partner_type.clone()))
        .unwrap_or_else(|| "influencer".to_owned());
    if partner_type.is_empty() || partner_type.chars().count() > 30 {
        return Err(Error::invalid_field(
            "partner_type",
            "must be 1 to 30 characters",
        ));
    }
    let name = match input.name {
        Some(name) => name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        None => current.as_ref().and_then(|c| c.name.clone()),
    };
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(Error::invalid_field(
            "name",
            "must be at most 200 characters",
        ));
    }
    let is_active = input
        .is_active
        .or(current.as_ref().map(|c| c.is_active))
        .unwrap_or(true);
    let campaign_id = match input.campaign_id {
        Some(campaign_id) => campaign_id,
        None => current.as_ref().and_then(|c| c.campaign_id),
    };
    let partner = db::partners::save(
        &mut *tx,
        id,
        &code,
        &partner_type,
        name.as_deref(),
        is_active,
        campaign_id,
    )
    .await?;
    tx.commit().await?;
    Ok(partner)
}
