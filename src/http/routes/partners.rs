//! Referral partners (TrustCart routes 29–32).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::campaigns::ListParams;
use super::{PageParams, page_limit};
use crate::auth::{Permission, Principal};
use crate::domain::money::{Money, Percent, number_or_string_opt};
use crate::domain::partner::Partner;
use crate::domain::partner_report::PartnerReport;
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::partner_reports::{self, ReportQuery};
use crate::service::partners::{self, PartnerChanges};

/// A page of partners: 1 to 2000 (default 500, so that TrustCart's admin, which sends no
/// `limit`, sees every partner a shop has).
type Page = PageParams<500, 2000, Uuid>;

/// The partner routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_partners, create_partner))
        .routes(routes!(update_partner))
        .routes(routes!(get_partner_report))
}

/// A partner as an admin sends it (snake_case or camelCase keys). On update, absent keys
/// are kept and `null` clears a nullable field. Amounts are JSON numbers or numeric strings.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[expect(
    missing_docs,
    reason = "one field per column; the names are the documentation (see Partner)"
)]
pub struct PartnerInput {
    pub code: Option<String>,
    #[serde(alias = "partnerType")]
    pub partner_type: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub name: Option<Option<String>>,
    #[serde(alias = "isActive")]
    pub is_active: Option<bool>,
    #[serde(default, alias = "campaignId", deserialize_with = "nullable")]
    pub campaign_id: Option<Option<Uuid>>,
    #[serde(default, alias = "contactPhone", deserialize_with = "nullable")]
    pub contact_phone: Option<Option<String>>,
    #[serde(default, alias = "payoutMethod", deserialize_with = "nullable")]
    pub payout_method: Option<Option<String>>,
    #[serde(default, alias = "payoutAccount", deserialize_with = "nullable")]
    pub payout_account: Option<Option<String>>,
    #[serde(
        default,
        alias = "commissionAmount",
        deserialize_with = "nullable_amount"
    )]
    #[schema(value_type = Option<f64>)]
    pub commission_amount: Option<Option<Money>>,
    #[serde(
        default,
        alias = "commissionPercent",
        deserialize_with = "nullable_amount"
    )]
    #[schema(value_type = Option<f64>)]
    pub commission_percent: Option<Option<Percent>>,
    #[serde(default, alias = "commissionCap", deserialize_with = "nullable_amount")]
    #[schema(value_type = Option<f64>)]
    pub commission_cap: Option<Option<Money>>,
    #[serde(alias = "commissionScope")]
    pub commission_scope: Option<String>,
    #[serde(default, alias = "commissionDays", deserialize_with = "nullable")]
    pub commission_days: Option<Option<i32>>,
    #[serde(default, alias = "customerId", deserialize_with = "nullable")]
    pub customer_id: Option<Option<i32>>,
}

fn nullable<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A present amount (a number or a numeric string, bounded by its type) or `null`.
fn nullable_amount<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr<Err = crate::domain::money::MoneyError>,
{
    number_or_string_opt(d).map(Some)
}

impl From<PartnerInput> for PartnerChanges {
    fn from(input: PartnerInput) -> Self {
        Self {
            code: input.code,
            partner_type: input.partner_type,
            name: input.name,
            is_active: input.is_active,
            campaign_id: input.campaign_id,
            contact_phone: input.contact_phone,
            payout_method: input.payout_method,
            payout_account: input.payout_account,
            commission_amount: input.commission_amount,
            commission_percent: input.commission_percent,
            commission_cap: input.commission_cap,
            commission_scope: input.commission_scope,
            commission_days: input.commission_days,
            customer_id: input.customer_id,
        }
    }
}

/// Partners, newest first (by `created_at`, then id), a page at a time: `beforeId` is the
/// last id of the previous page. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-partners", tag = "campaigns", security(("bearer" = [])),
    params(ListParams, Page),
    responses((status = 200, body = Vec<Partner>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range, or a beforeId that names no partner")))]
async fn list_partners(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<ListParams>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Partner>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        partners::list(&state.db, params.include_inactive(), page.before_id, limit).await?,
    ))
}

/// Creates a partner. Codes are unique case-insensitively. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/referral-partners", tag = "campaigns", security(("bearer" = [])),
    request_body = PartnerInput,
    responses((status = 201, body = Partner), (status = 409, body = ErrorBody, description = "partner_code_taken"),
              (status = 422, body = ErrorBody)))]
async fn create_partner(
    State(state): State<AppState>,
    principal: Principal,
    Json(input): Json<PartnerInput>,
) -> Result<(StatusCode, Json<Partner>)> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok((
        StatusCode::CREATED,
        Json(partners::save(&state.db, None, input.into()).await?),
    ))
}

/// Updates a partner: absent keys are kept. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/referral-partners/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PartnerInput,
    responses((status = 200, body = Partner), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_partner(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(input): Json<PartnerInput>,
) -> Result<Json<Partner>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(
        partners::save(&state.db, Some(id), input.into()).await?,
    ))
}

/// `?from=&to=&limit=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// From (RFC 3339, inclusive).
    from: Option<DateTime<Utc>>,
    /// To (RFC 3339, exclusive).
    to: Option<DateTime<Utc>>,
    /// Orders listed, 1–2000 (default 50).
    limit: Option<i64>,
}

impl ReportParams {
    /// The service's query, with the limit checked (400 `invalid_query` out of range).
    pub fn query(self) -> Result<ReportQuery> {
        Ok(ReportQuery {
            from: self.from,
            to: self.to,
            limit: page_limit(
                self.limit,
                partner_reports::DEFAULT_ORDER_LIMIT,
                partner_reports::MAX_ORDER_LIMIT,
            )?,
        })
    }
}

/// The partner's funnel, revenue, orders, order outcomes and referred customers' lifetime
/// value (definitions: docs/ARCHITECTURE.md, "Partner reports"). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-partners/{code}/report", tag = "campaigns", security(("bearer" = [])),
    params(("code" = String, Path), ReportParams),
    responses((status = 200, body = PartnerReport), (status = 400, body = ErrorBody, description = "invalid_query"),
              (status = 404, body = ErrorBody)))]
async fn get_partner_report(
    State(state): State<AppState>,
    principal: Principal,
    Path(code): Path<String>,
    Query(params): Query<ReportParams>,
) -> Result<Json<PartnerReport>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(
        partner_reports::report_by_code(&state.reports, &code, params.query()?).await?,
    ))
}
