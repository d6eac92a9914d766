//! Points (TrustCart routes 19–22), coupons and free products, and membership tiers
//! (routes 33–36).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{CustomerKey, PageParams, SpendPageParams, idempotency_key, posted_response};
use crate::auth::{Permission, Principal};
use crate::domain::loyalty::{
    Coupon, CouponCheck, Evaluation, Membership, PointTransaction, Points, Thresholds, Tier,
};
use crate::domain::money::OrderTotal;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, OptionalJson, Path, Query};
use crate::service::loyalty::{self, PointsMovement};

/// A page of points ledger rows: 1 to 200 (default 50).
type Page = PageParams<50, 200>;
/// A page of coupons and free products: 1 to 500 (default 200).
type RewardPage = PageParams<200, 500>;
/// A page of memberships: 1 to 1000 (default 200).
type MembershipPage = SpendPageParams<200, 1000>;

/// The points, coupon and membership routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_points))
        .routes(routes!(list_my_point_transactions))
        .routes(routes!(get_points))
        .routes(routes!(list_point_transactions))
        .routes(routes!(earn_points))
        .routes(routes!(redeem_points))
        .routes(routes!(list_my_rewards))
        .routes(routes!(list_rewards))
        .routes(routes!(validate_coupon))
        .routes(routes!(get_membership))
        .routes(routes!(list_memberships))
        .routes(routes!(set_membership_tier))
        .routes(routes!(evaluate_membership))
}

/// An operator's points movement, as TrustCart's admin sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PointsRequest {
    /// A positive whole number of points (at most 1,000,000).
    pub points: i32,
    /// Why (`bonus`, `purchase`, `referral`, …), up to 50 characters.
    pub source: String,
    /// Statement text.
    pub description: Option<String>,
    /// The order or request it belongs to.
    pub reference_id: Option<i32>,
    /// Required (here or as the `Idempotency-Key` header).
    pub idempotency_key: Option<String>,
}

/// The caller's points.
#[utoipa::path(get, path = "/api/loyalty/me/points", tag = "rewards", security(("bearer" = [])),
    responses((status = 200, body = Points), (status = 403, body = ErrorBody)))]
async fn get_my_points(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Points>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    Ok(Json(loyalty::points(&state.db, me).await?))
}

/// The caller's points ledger, newest first.
#[utoipa::path(get, path = "/api/loyalty/me/points/transactions", tag = "rewards", security(("bearer" = [])),
    params(Page), responses((status = 200, body = Vec<PointTransaction>)))]
async fn list_my_point_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Vec<PointTransaction>>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let limit = page.limit()?;
    Ok(Json(
        loyalty::point_transactions(&state.db, me, limit, page.before_id).await?,
    ))
}

/// A customer's points. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/points/{customerId}", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID")), responses((status = 200, body = Points), (status = 404, body = ErrorBody)))]
async fn get_points(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
) -> Result<Json<Points>> {
    principal.require(Permission::ViewMlmReports)?;
    let customer_id = customer.resolve(&state).await?;
    Ok(Json(loyalty::points(&state.db, customer_id).await?))
}

/// A customer's points ledger, newest first. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/points/{customerId}/transactions", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path), Page),
    responses((status = 200, body = Vec<PointTransaction>), (status = 404, body = ErrorBody)))]
async fn list_point_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<PointTransaction>>> {
    principal.require(Permission::ViewMlmReports)?;
    let customer_id = customer.resolve(&state).await?;
    let limit = page.limit()?;
    Ok(Json(
        loyalty::point_transactions(&state.db, customer_id, limit, page.before_id).await?,
    ))
}

/// Gives a customer points, once per idempotency key. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/points/{customerId}/earn", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)), request_body = PointsRequest,
    responses((status = 201, body = PointTransaction), (status = 404, body = ErrorBody, description = "customer_not_found"),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn earn_points(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    headers: HeaderMap,
    Json(body): Json<PointsRequest>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageMlmSettings)?;
    let customer_id = customer.resolve(&state).await?;
    move_points(
        &state,
        customer_id,
        false,
        body,
        &headers,
        &principal.actor(),
    )
    .await
}

/// Takes points from a customer, never below zero. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/points/{customerId}/redeem", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)), request_body = PointsRequest,
    responses((status = 201, body = PointTransaction), (status = 404, body = ErrorBody, description = "customer_not_found"),
              (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "insufficient_points")))]
async fn redeem_points(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    headers: HeaderMap,
    Json(body): Json<PointsRequest>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageMlmSettings)?;
    let customer_id = customer.resolve(&state).await?;
    move_points(
        &state,
        customer_id,
        true,
        body,
        &headers,
        &principal.actor(),
    )
    .await
}

async fn move_points(
    state: &AppState,
    customer_id: i32,
    redeem: bool,
    body: PointsRequest,
    headers: &HeaderMap,
    actor: &str,
) -> Result<impl IntoResponse + use<>> {
    let key = idempotency_key(headers, body.idempotency_key)?;
    let movement = PointsMovement {
        points: body.points,
        source: body.source,
        description: body.description,
        reference_id: body.reference_id,
    };
    let (transaction, created) =
        loyalty::post_points(&state.db, customer_id, redeem, movement, key, actor).await?;
    Ok(posted_response(transaction, created))
}

/// The caller's coupons and free products: usable ones first, then newest first, a page at
/// a time (`beforeId`: the last id of the previous page).
#[utoipa::path(get, path = "/api/loyalty/me/rewards", tag = "rewards", security(("bearer" = [])),
    params(RewardPage),
    responses((status = 200, body = Vec<Coupon>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range, or a beforeId that names none of the customer's coupons")))]
async fn list_my_rewards(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<RewardPage>,
) -> Result<Json<Vec<Coupon>>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let limit = page.limit()?;
    Ok(Json(
        loyalty::coupons(&state.db, me, limit, page.before_id).await?,
    ))
}

/// A customer's coupons and free products, in the order of `/me/rewards`. Needs
/// `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/rewards/{customerId}", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path), RewardPage),
    responses((status = 200, body = Vec<Coupon>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range, or a beforeId that names none of the customer's coupons"),
              (status = 404, body = ErrorBody)))]
async fn list_rewards(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Query(page): Query<RewardPage>,
) -> Result<Json<Vec<Coupon>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        loyalty::coupons(&state.db, customer_id, limit, page.before_id).await?,
    ))
}

/// A coupon check at checkout.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CouponValidateRequest {
    /// The code typed.
    code: String,
    /// The customer (a customer token may leave it out: it is theirs).
    customer_id: Option<i32>,
    /// The order's total, taka.
    order_amount: OrderTotal,
}

/// Does this coupon apply to this order, and for how much? Writes nothing. A customer
/// checks their own; the shop's system (`edit-sales-orders`) checks any.
#[utoipa::path(post, path = "/api/coupons/validate", tag = "rewards", security(("bearer" = []), ("api_key" = [])),
    request_body = CouponValidateRequest,
    responses((status = 200, body = CouponCheck, description = "valid, or the reason it does not apply"),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn validate_coupon(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CouponValidateRequest>,
) -> Result<Json<CouponCheck>> {
    let customer_id = loyalty::coupon_checker(&principal, body.customer_id)?;
    Ok(Json(
        loyalty::validate_coupon(&state.db, &body.code, customer_id, body.order_amount).await?,
    ))
}

/// A customer's membership, with spend from delivered orders. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/membership/{customerId}", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)), responses((status = 200, body = Membership), (status = 404, body = ErrorBody)))]
async fn get_membership(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
) -> Result<Json<Membership>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(loyalty::membership(&state.db, customer_id).await?))
}

/// `?tier=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembershipParams {
    /// Only this tier.
    tier: Option<Tier>,
}

/// Memberships, highest current-month spend first (ties by customer id), a page at a time:
/// the cursor is the previous page's last `currentMonthSpend` and `customerId`. Needs
/// `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/memberships", tag = "rewards", security(("bearer" = [])),
    params(MembershipParams, MembershipPage),
    responses((status = 200, body = Vec<Membership>),
              (status = 400, body = ErrorBody, description = "invalid_query: a limit out of range, or only one of afterSpend and afterCustomerId")))]
async fn list_memberships(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<MembershipParams>,
    Query(page): Query<MembershipPage>,
) -> Result<Json<Vec<Membership>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        loyalty::memberships(&state.db, params.tier, page.cursor()?, limit).await?,
    ))
}

/// A tier change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TierRequest {
    /// `none`, `silver`, `gold` or `permanent` (any case).
    tier: String,
}

/// Sets a customer's tier and its benefits (discount, free deliveries, price lock, card).
/// Needs `manage-mlm-settings`.
#[utoipa::path(put, path = "/api/loyalty/membership/{customerId}/tier", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)), request_body = TierRequest,
    responses((status = 200, body = Membership), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_membership_tier(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Json(body): Json<TierRequest>,
) -> Result<Json<Membership>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(
        loyalty::set_tier(&state.db, customer_id, parse_tier(&body.tier)?).await?,
    ))
}

/// Raises a customer's tier to what their delivered orders earn (never lowers it).
/// Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/membership/{customerId}/evaluate", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)), request_body(content = Thresholds, description = "Optional thresholds"),
    responses((status = 201, body = Evaluation), (status = 404, body = ErrorBody)))]
async fn evaluate_membership(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    OptionalJson(thresholds): OptionalJson<Thresholds>,
) -> Result<(StatusCode, Json<Evaluation>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let evaluation =
        loyalty::evaluate(&state.db, customer_id, thresholds.unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(evaluation)))
}

/// A tier name as an operator types it.
fn parse_tier(raw: &str) -> Result<Tier> {
    Tier::from_name(&raw.trim().to_ascii_lowercase())
        .ok_or_else(|| Error::invalid_field("tier", "must be none, silver, gold or permanent"))
}
