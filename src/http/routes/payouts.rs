//! Partner payout batches (issue 11): build one, read it, export its bulk-disbursement file,
//! record the providers' answers. Every route needs `manage-payouts`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::page_limit;
use crate::auth::{Permission, Principal};
use crate::domain::commission::{PayoutBatch, PayoutBatchSummary};
use crate::domain::partner::PayoutMethod;
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::payouts::{self, AnswerInput};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The payout routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_payout_batches, create_payout_batch))
        .routes(routes!(get_payout_batch))
        .routes(routes!(settle_payout_batch))
}

/// What to pay: commissions released in `[from, to)` of partners paid by `method`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePayoutBatchRequest {
    /// Released from (RFC 3339, inclusive).
    from: DateTime<Utc>,
    /// Released before (RFC 3339, exclusive).
    to: DateTime<Utc>,
    /// `bkash`, `nagad` or `bank`.
    method: PayoutMethod,
}

/// `?limit=&beforeId=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BatchListParams {
    /// How many (1–200, default 50).
    limit: Option<i64>,
    /// Only batches with a smaller id than this (the previous page's last `id`).
    before_id: Option<i64>,
}

/// One provider answer: `{partnerId, transactionId}` when the transfer was paid,
/// `{partnerId, rejected: true, reason?}` when it was refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayoutAnswer {
    /// The partner whose transfer it is.
    partner_id: Uuid,
    /// The provider's transaction id (bKash/Nagad TrxID, a bank reference).
    transaction_id: Option<String>,
    /// The transfer was refused: its commissions go back to unpaid, for a later batch.
    #[serde(default)]
    rejected: bool,
    /// Why it was refused.
    reason: Option<String>,
}

/// Payout batches, newest first. Needs `manage-payouts`.
#[utoipa::path(get, path = "/api/loyalty/payout-batches", tag = "payouts", security(("bearer" = [])),
    params(BatchListParams),
    responses((status = 200, body = Vec<PayoutBatchSummary>), (status = 403, body = ErrorBody)))]
async fn list_payout_batches(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<BatchListParams>,
) -> Result<Json<Vec<PayoutBatchSummary>>> {
    principal.require(Permission::ManagePayouts)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        payouts::list(&state.db, limit, params.before_id).await?,
    ))
}

/// Builds a payout batch: every released, unpaid commission (released in `[from, to)`) of
/// the partners paid by `method`, one line per partner, what each owes netted off. Needs
/// `manage-payouts`.
#[utoipa::path(post, path = "/api/loyalty/payout-batches", tag = "payouts", security(("bearer" = [])),
    request_body = CreatePayoutBatchRequest,
    responses((status = 201, body = PayoutBatch), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "payout_batch_empty, validation_failed")))]
async fn create_payout_batch(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CreatePayoutBatchRequest>,
) -> Result<(StatusCode, Json<PayoutBatch>)> {
    principal.require(Permission::ManagePayouts)?;
    let batch = payouts::create(
        &state.db,
        body.method,
        body.from,
        body.to,
        &principal.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(batch)))
}

/// `12` or `12.csv`: axum matches whole segments, so one route serves both.
fn batch_key(raw: &str) -> Result<(i64, bool)> {
    let (id, csv) = match raw.strip_suffix(".csv") {
        Some(id) => (id, true),
        None => (raw, false),
    };
    match id.parse::<i64>() {
        Ok(id) if id > 0 => Ok((id, csv)),
        _ => Err(Error::new(
            Code::InvalidPathParameter,
            "id: must be a batch id, optionally followed by .csv",
        )),
    }
}

/// A payout batch with its lines and totals (`…/{id}`), or its bulk-disbursement file
/// (`…/{id}.csv`, text/csv: `SL,Wallet Number|Account,Amount,Reference,Name`, one row per
/// transfer still to be made; see docs/PAYOUTS.md). Needs `manage-payouts`.
#[utoipa::path(get, path = "/api/loyalty/payout-batches/{id}", tag = "payouts", security(("bearer" = [])),
    params(("id" = String, Path, description = "The batch id, or the id followed by `.csv` for the file")),
    responses((status = 200, body = PayoutBatch, description = "The batch (JSON), or with `.csv` the file",
               content((PayoutBatch = "application/json"), (String = "text/csv"))),
              (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "payout_batch_not_found")))]
async fn get_payout_batch(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Response> {
    principal.require(Permission::ManagePayouts)?;
    let (id, csv) = batch_key(&raw)?;
    if !csv {
        return Ok(Json(payouts::get(&state.db, id).await?).into_response());
    }
    let (method, bytes) = payouts::csv(&state.db, id).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"payout-batch-{id}-{method}.csv\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Records the providers' answers, all or none: a paid transfer's commissions become
/// `paid` with the transaction id; a rejected one's leave the batch, unpaid again. The
/// same answers again change nothing and answer the same batch. Needs `manage-payouts`.
#[utoipa::path(post, path = "/api/loyalty/payout-batches/{id}/paid", tag = "payouts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The batch id")),
    request_body = Vec<PayoutAnswer>,
    responses((status = 200, body = PayoutBatch), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "payout_batch_not_found"),
              (status = 409, body = ErrorBody, description = "payout_transaction_mismatch, payout_transaction_reused, invalid_transition"),
              (status = 422, body = ErrorBody, description = "partner_not_in_batch, validation_failed")))]
async fn settle_payout_batch(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Json(body): Json<Vec<PayoutAnswer>>,
) -> Result<Json<PayoutBatch>> {
    principal.require(Permission::ManagePayouts)?;
    let answers = body
        .into_iter()
        .map(|a| AnswerInput {
            partner_id: a.partner_id,
            transaction_id: a.transaction_id,
            rejected: a.rejected,
            reason: a.reason,
        })
        .collect();
    Ok(Json(
        payouts::settle(&state.db, id, answers, &principal.actor()).await?,
    ))
}
