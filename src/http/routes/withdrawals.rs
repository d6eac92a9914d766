//! Withdrawals: TrustCart routes 16–18 for staff, and the customer's own `/me` routes.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{CustomerKey, idempotency_key, page_limit, posted_response};
use crate::auth::{Permission, Principal};
use crate::domain::money::Money;
use crate::domain::wallet::IdempotencyKey;
use crate::domain::withdrawal::{WithdrawalMethod, WithdrawalRequest, WithdrawalStatus};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::withdrawals::{self, Decision, Requester, WithdrawalInput};

/// Default and largest page of requests.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The withdrawal routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_withdrawal))
        .routes(routes!(list_withdrawals))
        .routes(routes!(update_withdrawal_status))
        .routes(routes!(create_my_withdrawal))
        .routes(routes!(list_my_withdrawals))
}

/// `?status=&limit=&beforeId=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WithdrawalListParams {
    /// Only requests in this status.
    status: Option<WithdrawalStatus>,
    /// How many rows (1 to 200, default 50).
    limit: Option<i64>,
    /// Only requests with a smaller id than this (the last id of the previous page).
    before_id: Option<i64>,
}

/// A withdrawal request as TrustCart's admin sends it (unknown fields are ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWithdrawalRequest {
    /// Taka: a JSON number > 0 with at most 2 decimals, at least `WITHDRAWAL_MIN_AMOUNT`.
    amount: Money,
    /// `bkash` (the default), `nagad`, `rocket` or `bank`.
    method: Option<WithdrawalMethod>,
    /// The mobile number, or the bank account. Staff may enter a number other than the
    /// customer's verified phone; the request records who did.
    account: String,
    /// Free text.
    notes: Option<String>,
    /// Optional (here or as the `Idempotency-Key` header): the same key returns the same
    /// request instead of holding the amount twice.
    idempotency_key: Option<String>,
}

/// The customer's own withdrawal request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMyWithdrawalRequest {
    /// Taka: a JSON number > 0 with at most 2 decimals, at least `WITHDRAWAL_MIN_AMOUNT`.
    amount: Money,
    /// `bkash`, `nagad`, `rocket` or `bank`.
    method: WithdrawalMethod,
    /// For mobile money, the customer's verified phone; for a bank, the account details.
    account: String,
    /// Free text.
    notes: Option<String>,
    /// Optional (here or as the `Idempotency-Key` header): the same key returns the same
    /// request instead of holding the amount twice.
    idempotency_key: Option<String>,
}

/// A staff decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWithdrawalStatusRequest {
    /// `approved` (from pending), `paid` (from approved) or `rejected` (from pending or
    /// approved); anything else is a 409 `invalid_transition`.
    status: WithdrawalStatus,
    /// Free text (kept when absent).
    notes: Option<String>,
    /// Required for `paid`: the payout's transaction id at bKash, Nagad, Rocket or the bank.
    payout_reference: Option<String>,
}

/// The optional idempotency key of a withdrawal request (body or header).
fn optional_key(headers: &HeaderMap, body_key: Option<String>) -> Result<Option<IdempotencyKey>> {
    if body_key.is_none() && !headers.contains_key("idempotency-key") {
        return Ok(None);
    }
    idempotency_key(headers, body_key).map(Some)
}

/// Asks for a payout of a customer's wallet money and holds the amount (TrustCart route
/// 16). Needs `manage-mlm-settings`. The customer's phone must be verified.
#[utoipa::path(post, path = "/api/loyalty/wallet/{customerId}/withdrawals", tag = "wallets", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID")),
    request_body = CreateWithdrawalRequest,
    responses(
        (status = 201, body = WithdrawalRequest, description = "Created and held, or the original on a replay (header Idempotent-Replayed: true)"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "idempotency_key_reused"),
        (status = 422, body = ErrorBody, description = "phone_not_verified, insufficient_balance, withdrawal_limit_exceeded, validation_failed")))]
async fn create_withdrawal(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    headers: HeaderMap,
    Json(body): Json<CreateWithdrawalRequest>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ManageMlmSettings)?;
    let customer_id = customer.resolve(&state).await?;
    let input = WithdrawalInput {
        amount: body.amount,
        method: body.method.unwrap_or(WithdrawalMethod::Bkash),
        account: body.account,
        notes: body.notes,
        idempotency_key: optional_key(&headers, body.idempotency_key)?,
    };
    let requested = withdrawals::request(
        &state.db,
        &state.config,
        customer_id,
        input,
        Requester::Staff,
        &principal.actor(),
    )
    .await?;
    Ok(posted_response(requested.request, requested.created))
}

/// A customer's withdrawal requests, newest first (TrustCart route 17). Needs
/// `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/wallet/{customerId}/withdrawals", tag = "wallets", security(("bearer" = [])),
    params(("customerId" = String, Path, description = "Customer id or UUID"), WithdrawalListParams),
    responses((status = 200, body = Vec<WithdrawalRequest>), (status = 404, body = ErrorBody)))]
async fn list_withdrawals(
    State(state): State<AppState>,
    principal: Principal,
    Path(customer): Path<CustomerKey>,
    Query(params): Query<WithdrawalListParams>,
) -> Result<Json<Vec<WithdrawalRequest>>> {
    principal.require(Permission::ViewMlmReports)?;
    let customer_id = customer.resolve(&state).await?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        withdrawals::list(
            &state.db,
            customer_id,
            params.status,
            limit,
            params.before_id,
        )
        .await?,
    ))
}

/// Approves, pays or rejects a request (TrustCart route 18). Needs `manage-mlm-settings`.
/// `paid` debits the held amount once; `rejected` releases it.
#[utoipa::path(put, path = "/api/loyalty/wallet/withdrawals/{id}/status", tag = "wallets", security(("bearer" = [])),
    params(("id" = String, Path, description = "Withdrawal request id")),
    request_body = UpdateWithdrawalStatusRequest,
    responses((status = 200, body = WithdrawalRequest), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "invalid_transition"),
              (status = 422, body = ErrorBody, description = "payoutReference missing for paid")))]
async fn update_withdrawal_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(body): Json<UpdateWithdrawalStatusRequest>,
) -> Result<Json<WithdrawalRequest>> {
    principal.require(Permission::ManageMlmSettings)?;
    let decision = Decision {
        status: body.status,
        payout_reference: body.payout_reference,
        notes: body.notes,
    };
    Ok(Json(
        withdrawals::decide(&state.db, id, decision, &principal.actor()).await?,
    ))
}

/// Asks for a payout of the caller's wallet money and holds the amount. The phone must be
/// verified first, and a mobile-money account must be that phone.
#[utoipa::path(post, path = "/api/loyalty/me/withdrawals", tag = "wallets", security(("bearer" = [])),
    request_body = CreateMyWithdrawalRequest,
    responses(
        (status = 201, body = WithdrawalRequest, description = "Created and held, or the original on a replay (header Idempotent-Replayed: true)"),
        (status = 409, body = ErrorBody, description = "idempotency_key_reused"),
        (status = 422, body = ErrorBody, description = "phone_not_verified, insufficient_balance, withdrawal_limit_exceeded, validation_failed")))]
async fn create_my_withdrawal(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<CreateMyWithdrawalRequest>,
) -> Result<impl IntoResponse> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let input = WithdrawalInput {
        amount: body.amount,
        method: body.method,
        account: body.account,
        notes: body.notes,
        idempotency_key: optional_key(&headers, body.idempotency_key)?,
    };
    let requested = withdrawals::request(
        &state.db,
        &state.config,
        me,
        input,
        Requester::Customer,
        &principal.actor(),
    )
    .await?;
    Ok(posted_response(requested.request, requested.created))
}

/// The caller's withdrawal requests, newest first.
#[utoipa::path(get, path = "/api/loyalty/me/withdrawals", tag = "wallets", security(("bearer" = [])),
    params(WithdrawalListParams),
    responses((status = 200, body = Vec<WithdrawalRequest>)))]
async fn list_my_withdrawals(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<WithdrawalListParams>,
) -> Result<Json<Vec<WithdrawalRequest>>> {
    let me = principal.own_customer_id(Permission::ViewOwnWallet)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        withdrawals::list(&state.db, me, params.status, limit, params.before_id).await?,
    ))
}
