//! A member's benefits summary (TrustCart route 25) and price locks (routes 51–53).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::PageParams;
use crate::auth::{Permission, Principal};
use crate::domain::grocery::{BenefitsSummary, PriceLock, PriceLockSavings};
use crate::domain::money::{Money, number_or_string};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::price_locks;

/// A page of price locks: 1 to 1000 (default 200; a member has one active lock per
/// product, and the ones they ended).
type LockPage = PageParams<200, 1000>;

/// The benefits and price-lock routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_benefits))
        .routes(routes!(create_price_lock))
        .routes(routes!(list_price_locks))
        .routes(routes!(price_lock_savings))
}

/// A member's benefits, snake_case; `{}` for a customer without a membership tier (as
/// TrustCart answers). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/benefits/{customerId}", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)),
    responses((status = 200, body = BenefitsSummary, description = "or {} without a membership"), (status = 404, body = ErrorBody)))]
async fn get_benefits(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
) -> Result<Response> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(match price_locks::benefits(&state.db, customer_id).await? {
        Some(summary) => Json(summary).into_response(),
        None => Json(serde_json::json!({})).into_response(),
    })
}

/// A price lock request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceLockRequest {
    /// The member.
    pub customer_id: i32,
    /// The shop's product id.
    pub product_id: i64,
    /// The most the member pays for one unit (taka, number or numeric string, > 0).
    #[serde(deserialize_with = "number_or_string")]
    pub locked_price: Money,
}

/// Locks a product's price for a gold or permanent member (one active lock per product).
/// Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/price-lock", tag = "rewards", security(("bearer" = [])),
    request_body = PriceLockRequest,
    responses((status = 201, body = PriceLock), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "price_lock_exists"),
              (status = 422, body = ErrorBody, description = "price_lock_not_allowed")))]
async fn create_price_lock(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<PriceLockRequest>,
) -> Result<(StatusCode, Json<PriceLock>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let lock = price_locks::lock(
        &state.db,
        body.customer_id,
        body.product_id,
        body.locked_price,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(lock)))
}

/// A customer's price locks, newest first, a page at a time (`beforeId`: the last id of the
/// previous page). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/price-locks/{customerId}", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path), LockPage),
    responses((status = 200, body = Vec<PriceLock>), (status = 404, body = ErrorBody)))]
async fn list_price_locks(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
    Query(page): Query<LockPage>,
) -> Result<Json<Vec<PriceLock>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page.limit()?;
    Ok(Json(
        price_locks::locks(&state.db, customer_id, limit, page.before_id).await?,
    ))
}

/// What a member's active locks saved them. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/price-locks/{customerId}/savings", tag = "rewards", security(("bearer" = [])),
    params(("customerId" = i32, Path)), responses((status = 200, body = PriceLockSavings), (status = 404, body = ErrorBody)))]
async fn price_lock_savings(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer_id): Path<i32>,
) -> Result<Json<PriceLockSavings>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(price_locks::savings(&state.db, customer_id).await?))
}
