//! Partner self-service (Bondhu): a partner logs in with its code and the password an
//! admin set, and reads its own report with the token it gets. A partner token passes no
//! permission ([`Principal::require`]), so every other route refuses it.

use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::partners::ReportParams;
use crate::auth::{Permission, Principal};
use crate::domain::account::{PartnerLoginResponse, PartnerPasswordSet};
use crate::domain::partner_report::PartnerReport;
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::http::rate_limit::LoginRateLimit;
use crate::service::{auth, partner_reports};

/// The partner self-service routes and the admin's password route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login_partner))
        .routes(routes!(get_my_partner_report))
        .routes(routes!(set_partner_password))
}

/// `{code, password}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartnerLoginRequest {
    /// The partner's code (case-insensitive).
    code: String,
    /// The password an admin set.
    password: String,
}

/// Logs a partner in with its code and password; returns a 24-hour token that reaches only
/// `/api/partners/me/*`. Rate-limited per client; the partner locks after
/// `LOGIN_MAX_FAILURES` wrong passwords in a row, as customers and staff do.
#[utoipa::path(post, path = "/api/partners/login", tag = "partners",
    request_body = PartnerLoginRequest,
    responses((status = 200, body = PartnerLoginResponse),
              (status = 401, body = ErrorBody, description = "invalid_credentials"),
              (status = 403, body = ErrorBody, description = "the partner is inactive"),
              (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody, description = "rate_limited or account_locked; see Retry-After")))]
async fn login_partner(
    _limit: LoginRateLimit,
    State(state): State<AppState>,
    Json(body): Json<PartnerLoginRequest>,
) -> Result<Json<PartnerLoginResponse>> {
    Ok(Json(
        auth::partner_login(
            &state.db,
            &state.jwt,
            &state.config,
            &body.code,
            body.password,
        )
        .await?,
    ))
}

/// The calling partner's own report: the same query and shape as
/// `GET /api/loyalty/referral-partners/:code/report`. Needs a partner token.
#[utoipa::path(get, path = "/api/partners/me/report", tag = "partners", security(("bearer" = [])),
    params(ReportParams),
    responses((status = 200, body = PartnerReport), (status = 400, body = ErrorBody, description = "invalid_query"),
              (status = 403, body = ErrorBody, description = "not a partner token")))]
async fn get_my_partner_report(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<ReportParams>,
) -> Result<Json<PartnerReport>> {
    let me = principal.own_partner_id()?;
    Ok(Json(
        partner_reports::report_by_id(&state.reports, me, params.query()?).await?,
    ))
}

/// `{password}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartnerPasswordRequest {
    /// 8 to 128 characters.
    password: String,
}

/// Sets a partner's self-service password (and clears its login lock-out). Needs
/// `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/partners/{id}/password", tag = "partners", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PartnerPasswordRequest,
    responses((status = 200, body = PartnerPasswordSet), (status = 404, body = ErrorBody, description = "partner_not_found"),
              (status = 422, body = ErrorBody, description = "validation_failed: the password's length")))]
async fn set_partner_password(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(body): Json<PartnerPasswordRequest>,
) -> Result<Json<PartnerPasswordSet>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(
        auth::set_partner_password(&state.db, id, body.password).await?,
    ))
}
