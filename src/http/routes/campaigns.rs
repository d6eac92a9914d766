//! Referral campaigns (TrustCart routes 26–28), the dry run and the variant report.

use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::PageParams;
use crate::auth::{Permission, Principal};
use crate::domain::campaign::{Campaign, CampaignChange, CampaignReport, DryRunResponse};
use crate::domain::channel::Channel;
use crate::domain::money::{OrderTotal, decimal_number_or_string};
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::campaigns;
use crate::service::dry_run::{self, Simulation};

/// The campaign routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(update_campaign))
        .routes(routes!(dry_run_campaign))
        .routes(routes!(get_campaign_report))
}

/// A page of campaigns: 1 to 1000 (default 200, more than a shop runs, so that TrustCart's
/// admin, which sends no `limit`, still sees them all).
type Page = PageParams<200, 1000, Uuid>;

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

/// A campaign as an admin sends it: a JSON object of [`CampaignChange`]'s keys, in
/// TrustCart's snake_case or in camelCase (`rewardReferrerAmount`), normalised here to
/// snake_case. It stays a patch: `domain::campaign::CampaignSpec::patched` reads it over
/// the current campaign, so that absent keys keep and `null` clears, and names every
/// field that does not read.
#[derive(Debug)]
pub struct CampaignInput(Map<String, Value>);

impl<'de> Deserialize<'de> for CampaignInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let mut patch = Map::new();
        for (key, value) in Map::<String, Value>::deserialize(deserializer)? {
            let key = snake_case(&key);
            if patch.insert(key.clone(), value).is_some() {
                return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
            }
        }
        Ok(Self(patch))
    }
}

/// `rewardReferrerAmount` → `reward_referrer_amount`; snake_case keys are unchanged.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What to simulate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunRequest {
    /// The referring customer.
    pub referrer_customer_id: i32,
    /// The referred customer.
    pub referred_customer_id: i32,
    /// The qualifying order's total, in taka (a number or a numeric string).
    #[serde(deserialize_with = "decimal_number_or_string")]
    #[schema(value_type = f64)]
    pub order_amount: Decimal,
    /// Simulate under this campaign instead of the one the referral would get.
    pub campaign_id: Option<Uuid>,
    /// The channel the code would come through (default `share_link`).
    pub channel: Option<String>,
}

impl DryRunRequest {
    /// The simulation asked for; an order total out of bounds is a 422 naming `orderAmount`.
    fn parse(self) -> Result<Simulation> {
        Ok(Simulation {
            referrer_customer_id: self.referrer_customer_id,
            referred_customer_id: self.referred_customer_id,
            order_amount: OrderTotal::new(self.order_amount)
                .map_err(|e| Error::invalid_field("orderAmount", e.to_string()))?,
            campaign_id: self.campaign_id,
            channel: self
                .channel
                .as_deref()
                .map_or(Channel::ShareLink, Channel::parse_lenient),
        })
    }
}

/// Campaigns, newest first (by `created_at`, then id), a page at a time: `beforeId` is the
/// last id of the previous page. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-campaigns", tag = "campaigns", security(("bearer" = [])),
    params(ListParams, Page),
    responses((status = 200, body = Vec<Campaign>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range, or a beforeId that names no campaign"),
              (status = 403, body = ErrorBody)))]
async fn list_campaigns(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<ListParams>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Campaign>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        campaigns::list(&state.db, params.include_inactive(), page.before_id, limit).await?,
    ))
}

/// Creates a campaign. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/referral-campaigns", tag = "campaigns", security(("bearer" = [])),
    request_body = CampaignChange,
    responses((status = 201, body = Campaign), (status = 422, body = ErrorBody, description = "invalid_campaign, with fields")))]
async fn create_campaign(
    State(state): State<AppState>,
    principal: Principal,
    Json(input): Json<CampaignInput>,
) -> Result<(StatusCode, Json<Campaign>)> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok((
        StatusCode::CREATED,
        Json(campaigns::create(&state.db, input.0).await?),
    ))
}

/// Updates a campaign: absent keys are kept, `null` clears. Referrals already made keep
/// the terms they were made with. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/referral-campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CampaignChange,
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
    Ok(Json(campaigns::update(&state.db, id, input.0).await?))
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
    Ok(Json(dry_run::dry_run(&state.db, request.parse()?).await?))
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
    Ok(Json(campaigns::report(&state.reports, id).await?))
}
