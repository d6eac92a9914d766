//! Wallets and their ledger (TrustCart routes 10–15).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{CustomerKey, PageParams, idempotency_key, posted_response};
use crate::auth::{Permission, Principal};
use crate::domain::money::Money;
use crate::domain::wallet::{Direction, Wallet, WalletSource, WalletTransaction};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::wallets::{self as wallets, Movement};

/// A page of ledger rows: 1 to 200 (default 50).
type Page = PageParams<50, 200>;

/// The wallet routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_wallet))
        .routes(routes!(list_my_wallet_transactions))
        .routes(routes!(get_wallet))
        .routes(routes!(list_wallet_transactions))
        .routes(routes!(credit_wallet))
        .routes(routes!(debit_wallet))
}

/// The caller's own wallet. Needs a customer token.
#[utoipa::path(get, path = "/api/loyalty/me/wallet", tag = "wallets", security(("bearer" = [])),
    responses((status = 200, body = Wallet), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_my_wallet(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Wallet>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let mut conn = state.lean.acquire().await?;
    Ok(Json(wallets::own_wallet(&mut conn, me).await?))
}

/// The caller's ledger, newest first.
#[utoipa::path(get, path = "/api/loyalty/me/wallet/transactions", tag = "wallets", security(("bearer" = [])),
    params(Page),
    responses((status = 200, body = Vec<WalletTransaction>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_my_wallet_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<Page>,
) -> Result<Json<Vec<WalletTransaction>>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let limit = page.limit()?;
    Ok(Json(
        wallets::transactions(&state.db, me, limit, page.before_id).await?,
    ))
}

/// A customer's wallet. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/wallet/{customerId}", tag = "wallets", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID")),
    responses((status = 200, body = Wallet), (status = 404, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_wallet(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
) -> Result<Json<Wallet>> {
    principal.require(Permission::ViewMlmReports)?;
    let customer_id = customer.resolve(&state).await?;
    let mut conn = state.lean.acquire().await?;
    Ok(Json(wallets::wallet(&mut conn, customer_id).await?))
}

/// A customer's ledger, newest first. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/wallet/{customerId}/transactions", tag = "wallets", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID"), Page),
    responses((status = 200, body = Vec<WalletTransaction>), (status = 404, body = ErrorBody)))]
async fn list_wallet_transactions(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<WalletTransaction>>> {
    principal.require(Permission::ViewMlmReports)?;
    let customer_id = customer.resolve(&state).await?;
    let limit = page.limit()?;
    Ok(Json(
        wallets::transactions(&state.db, customer_id, limit, page.before_id).await?,
    ))
}

/// A credit or debit, as TrustCart's admin sends it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MovementRequest {
    /// Taka: a JSON number > 0 with at most 2 decimals.
    amount: Money,
    /// Why the money moves.
    source: WalletSource,
    /// Statement text.
    description: Option<String>,
    /// The referral, order or request it belongs to.
    reference_id: Option<i32>,
    /// Required (here or as the `Idempotency-Key` header): the same key and body replay
    /// the original transaction; the same key with another body is a 409.
    idempotency_key: Option<String>,
}

/// Credits a customer's wallet. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/wallet/{customerId}/credit", tag = "wallets", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID")),
    request_body = MovementRequest,
    responses(
        (status = 201, body = WalletTransaction, description = "Posted, or the original on a replay (header Idempotent-Replayed: true)"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Key reused for another movement"),
        (status = 422, body = ErrorBody)))]
async fn credit_wallet(
    state: State<AppState>,
    principal: Principal,
    customer: Path<CustomerKey>,
    headers: HeaderMap,
    body: Json<MovementRequest>,
) -> Result<impl IntoResponse> {
    move_money(state, principal, customer, headers, body, Direction::Credit).await
}

/// Debits a customer's wallet; never below zero. Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/wallet/{customerId}/debit", tag = "wallets", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID")),
    request_body = MovementRequest,
    responses(
        (status = 201, body = WalletTransaction, description = "Posted, or the original on a replay (header Idempotent-Replayed: true)"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "Invalid amount, or insufficient_balance")))]
async fn debit_wallet(
    state: State<AppState>,
    principal: Principal,
    customer: Path<CustomerKey>,
    headers: HeaderMap,
    body: Json<MovementRequest>,
) -> Result<impl IntoResponse> {
    move_money(state, principal, customer, headers, body, Direction::Debit).await
}

async fn move_money(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    headers: HeaderMap,
    Json(body): Json<MovementRequest>,
    direction: Direction,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageMlmSettings)?;
    let customer_id = customer.resolve(&state).await?;
    let idempotency_key = idempotency_key(&headers, body.idempotency_key)?;
    let movement = Movement {
        amount: body.amount,
        source: body.source,
        description: body.description,
        reference_id: body.reference_id,
        idempotency_key,
    };
    let posted = wallets::post(
        &state.db,
        customer_id,
        direction,
        movement,
        &principal.actor(),
    )
    .await?;
    Ok(posted_response(posted.transaction, posted.created))
}
