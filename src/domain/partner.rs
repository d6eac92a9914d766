//! Referral partners (influencers, communities, shops' own codes), in TrustCart's
//! snake_case shapes. Their report is [`super::partner_report`].

use serde::Serialize;
use uuid::Uuid;

use super::time::Timestamp;

/// The `partner_type` of a delivery rider, whose code is printed on the cards riders hand
/// out at the door (guide 4.11). Partner types are free text; this one has a meaning.
pub const DELIVERY_RIDER: &str = "delivery_rider";

/// A referral partner (influencer, community, shop code), in TrustCart's snake_case shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Partner {
    /// Partner id.
    pub id: Uuid,
    /// The code, as spelled when created (matched case-insensitively).
    pub code: String,
    /// `influencer`, `community`, `shop`, …
    pub partner_type: String,
    /// Display name.
    pub name: Option<String>,
    /// Inactive codes attribute nobody.
    pub is_active: bool,
    /// Created.
    pub created_at: Timestamp,
    /// The campaign customers brought by this partner get (else the channel's or default).
    pub campaign_id: Option<Uuid>,
}

/// A report's time window (either end open).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportWindow {
    /// From (inclusive).
    pub from: Option<Timestamp>,
    /// To (exclusive).
    pub to: Option<Timestamp>,
}
