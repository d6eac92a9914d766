//! Share codes, invitations, referral lists and completion (TrustCart routes 1–9).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::PageParams;
use crate::auth::{Permission, Principal};
use crate::domain::referral::{Referral, ReferralListItem, ReferralStats};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, OptionalJson, Path, Query};
use crate::service::fraud::ClientSignals;
use crate::service::referrals;

/// A page of referrals: 1 to 500 (default 200).
type Page = PageParams<200, 500>;

/// The referral routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_referral_code))
        .routes(routes!(get_referral_code))
        .routes(routes!(list_my_referrals))
        .routes(routes!(list_referrals))
        .routes(routes!(get_my_referral_stats))
        .routes(routes!(get_referral_stats))
        .routes(routes!(create_my_referral))
        .routes(routes!(create_referral))
        .routes(routes!(complete_referral))
}

/// A customer's share code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferralCodeResponse {
    /// `REF` and the zero-padded customer id, e.g. `REF000123`.
    referral_code: String,
}

/// The caller's share code.
#[utoipa::path(get, path = "/api/loyalty/me/referral-code", tag = "referrals", security(("bearer" = [])),
    responses((status = 200, body = ReferralCodeResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_my_referral_code(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ReferralCodeResponse>> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    let referral_code = referrals::share_code_of(&state.db, me).await?;
    Ok(Json(ReferralCodeResponse { referral_code }))
}

/// A customer's share code. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referral-code/{customerId}", tag = "referrals", security(("bearer" = [])),
    params(("customerId" = i32, Path)),
    responses((status = 200, body = ReferralCodeResponse), (status = 404, body = ErrorBody)))]
async fn get_referral_code(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
) -> Result<Json<ReferralCodeResponse>> {
    principal.require(Permission::ViewMlmReports)?;
    let referral_code = referrals::share_code_of(&state.db, customer_id).await?;
    Ok(Json(ReferralCodeResponse { referral_code }))
}

/// The caller's referrals, newest first, with the transaction that paid each reward.
#[utoipa::path(get, path = "/api/loyalty/me/referrals", tag = "referrals", security(("bearer" = [])),
    params(Page),
    responses((status = 200, body = Vec<ReferralListItem>), (status = 401, body = ErrorBody)))]
async fn list_my_referrals(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Vec<ReferralListItem>>> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    let limit = page.limit()?;
    Ok(Json(
        referrals::list(&state.db, me, limit, page.before_id).await?,
    ))
}

/// A customer's referrals. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referrals/{customerId}", tag = "referrals", security(("bearer" = [])),
    params(("customerId" = i32, Path), Page),
    responses((status = 200, body = Vec<ReferralListItem>), (status = 404, body = ErrorBody)))]
async fn list_referrals(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<ReferralListItem>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        referrals::list(&state.db, customer_id, limit, page.before_id).await?,
    ))
}

/// The caller's referral counts (values are strings, as in TrustCart).
#[utoipa::path(get, path = "/api/loyalty/me/referrals/stats", tag = "referrals", security(("bearer" = [])),
    responses((status = 200, body = ReferralStats), (status = 401, body = ErrorBody)))]
async fn get_my_referral_stats(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ReferralStats>> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    let mut conn = state.lean.acquire().await?;
    Ok(Json(referrals::stats(&mut conn, me).await?))
}

/// A customer's referral counts. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/referrals/{customerId}/stats", tag = "referrals", security(("bearer" = [])),
    params(("customerId" = i32, Path)),
    responses((status = 200, body = ReferralStats), (status = 404, body = ErrorBody)))]
async fn get_referral_stats(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
) -> Result<Json<ReferralStats>> {
    principal.require(Permission::ViewMlmReports)?;
    let mut conn = state.lean.acquire().await?;
    Ok(Json(referrals::stats(&mut conn, customer_id).await?))
}

/// An invitation from the caller.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMyReferralRequest {
    /// The friend's email.
    referred_email: Option<String>,
    /// The friend's phone (Bangladeshi mobile).
    referred_phone: Option<String>,
    /// The inviting device's id, kept as a fraud signal (else the `X-Device-Id` header).
    device_id: Option<String>,
}

/// The caller invites a friend by email or phone; the friend joins with the invitation's code.
#[utoipa::path(post, path = "/api/loyalty/me/referral", tag = "referrals", security(("bearer" = [])),
    request_body = CreateMyReferralRequest,
    responses((status = 201, body = Referral), (status = 409, body = ErrorBody, description = "The friend is already a customer"),
              (status = 422, body = ErrorBody)))]
async fn create_my_referral(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientSignals,
    Json(body): Json<CreateMyReferralRequest>,
) -> Result<(StatusCode, Json<Referral>)> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    let client = client.with_body_device(body.device_id.as_deref())?;
    let referral = referrals::invite(
        &state.db,
        me,
        body.referred_email.as_deref(),
        body.referred_phone.as_deref(),
        Some(&client),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(referral)))
}

/// An invitation made by an operator for a customer.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateReferralRequest {
    /// The referring customer.
    referrer_customer_id: i32,
    /// The friend's email.
    referred_email: Option<String>,
    /// The friend's phone.
    referred_phone: Option<String>,
}

/// Creates an invitation for a customer. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/referral", tag = "referrals", security(("bearer" = [])),
    request_body = CreateReferralRequest,
    responses((status = 201, body = Referral), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_referral(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreateReferralRequest>,
) -> Result<(StatusCode, Json<Referral>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let referral = referrals::invite(
        &state.db,
        body.referrer_customer_id,
        body.referred_email.as_deref(),
        body.referred_phone.as_deref(),
        None,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(referral)))
}

/// What an operator may say when completing a referral by hand.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteReferralRequest {
    /// The customer who joined, for an invitation nobody claimed.
    referred_customer_id: Option<i32>,
    /// The referred customer's qualifying order.
    order_id: Option<i32>,
}

/// Completes a referral and credits its rewards, once. Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/referral/{referralId}/complete", tag = "referrals", security(("bearer" = [])),
    params(("referralId" = i32, Path)),
    request_body(content = CompleteReferralRequest, description = "Optional"),
    responses((status = 200, body = Referral), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Nobody registered through it, or another customer did"),
              (status = 422, body = ErrorBody)))]
async fn complete_referral(
    State(state): State<AppState>,
    principal: Principal,
    Path(referral_id): Path<i32>,
    OptionalJson(body): OptionalJson<CompleteReferralRequest>,
) -> Result<Json<Referral>> {
    principal.require(Permission::ManageMlmSettings)?;
    let body = body.unwrap_or_default();
    let referral = referrals::complete(
        &state.db,
        referral_id,
        body.referred_customer_id,
        body.order_id,
        &principal.actor(),
    )
    .await?;
    Ok(Json(referral))
}
