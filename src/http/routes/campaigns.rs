//! Referral campaigns (TrustCart routes 26–28), the dry run and the variant report.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::{Permission, Principal};
use crate::domain::campaign::Campaign;
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::campaigns::{
    self, CampaignInput, CampaignReport, DryRunRequest, DryRunResponse,
};

/// The campaign routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(update_campaign))
        .routes(routes!(dry_run_campaign))
        .routes(routes!(get_campaign_report))
}

/// `?includeInactive=true`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `true` also lists inactive ones (TrustCart compares with the string `"true"`).
    include_inactive: Option<String>,
}

impl ListParams {
    /// Whether inactive rows are wanted.
    pub fn include_inactive(&self) -> bool {
        self.include_inactive.as_deref() == Some("true")
    }
}

/// Campaigns, newest first. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-campaigns", tag = "campaigns", security(("bearer" = [])),
    params(ListParams), responses((status = 200, body = Vec<Campaign>), (status = 403, body = ErrorBody)))]
async fn list_campaigns(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<ListParams>,
) -> Result<Json<Vec<Campaign>>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(
        campaigns::list(&state.db, params.include_inactive()).await?,
    ))
}

/// Creates a campaign. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/referral-campaigns", tag = "campaigns", security(("bearer" = [])),
    request_body = CampaignInput,
    responses((status = 201, body = Campaign), (status = 422, body = ErrorBody, description = "invalid_campaign, with fields")))]
async fn create_campaign(
    State(state): State<AppState>,
    principal: Principal,
    Json(input): Json<CampaignInput>,
) -> Result<(StatusCode, Json<Campaign>)> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok((
        StatusCode::CREATED,
        Json(campaigns::create(&state.db, input).await?),
    ))
}

/// Updates a campaign: absent keys are kept, `null` clears. Referrals already made keep
/// the terms they were made with. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/referral-campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CampaignInput,
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "variants_in_use or milestones_in_use"),
              (status = 422, body = ErrorBody)))]
async fn update_campaign(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(input): Json<CampaignInput>,
) -> Result<Json<Campaign>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(campaigns::update(&state.db, id, input).await?))
}

/// What a referral from this referrer to this customer would earn on an order of this
/// amount, and why not — computed by the real engine in a transaction that is rolled back.
/// Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/referral-campaigns/dry-run", tag = "campaigns", security(("bearer" = [])),
    request_body = DryRunRequest,
    responses((status = 200, body = DryRunResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn dry_run_campaign(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<DryRunRequest>,
) -> Result<Json<DryRunResponse>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(campaigns::dry_run(&state.db, request).await?))
}

/// The campaign's referrals and rewards split by A/B variant. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-campaigns/{id}/report", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignReport), (status = 404, body = ErrorBody)))]
async fn get_campaign_report(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<CampaignReport>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(campaigns::report(&state.db, id).await?))
}
