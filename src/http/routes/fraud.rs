//! Fraud rules and the blocklist (staff settings; `manage-mlm-settings`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::page_limit;
use crate::auth::{Permission, Principal};
use crate::db::fraud::StoredRules;
use crate::domain::fraud::{BlocklistEntry, BlocklistKind, FraudRules};
use crate::domain::time::Timestamp;
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::service::fraud;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The fraud routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_fraud_rules, put_fraud_rules))
        .routes(routes!(list_blocklist, create_blocklist_entry))
        .routes(routes!(delete_blocklist_entry))
}

/// The fraud rules and who last changed them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FraudRulesResponse {
    /// The rules (what `PUT` takes).
    rules: FraudRules,
    /// `system` (the defaults), `user:{id}` or `api_key:{id}`.
    updated_by: String,
    /// When they were last changed.
    updated_at: Timestamp,
}

impl From<StoredRules> for FraudRulesResponse {
    fn from(stored: StoredRules) -> Self {
        Self {
            rules: stored.rules,
            updated_by: stored.updated_by,
            updated_at: stored.updated_at.into(),
        }
    }
}

/// The fraud rules the delivery verdict applies. Needs `manage-mlm-settings`.
#[utoipa::path(get, path = "/api/loyalty/fraud-rules", tag = "fraud", security(("bearer" = [])),
    responses((status = 200, body = FraudRulesResponse), (status = 403, body = ErrorBody)))]
async fn get_fraud_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<FraudRulesResponse>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(fraud::rules(&state.db).await?.into()))
}

/// Replaces the fraud rules, whole (every rule, every threshold). Needs
/// `manage-mlm-settings`. A threshold out of range, `perDay` below `perHour`, or `block`
/// for `ipVelocity` (a shared address never blocks on its own) is 422
/// `validation_failed` naming the field (`ipVelocity.action`).
#[utoipa::path(put, path = "/api/loyalty/fraud-rules", tag = "fraud", security(("bearer" = [])),
    request_body = FraudRules,
    responses((status = 200, body = FraudRulesResponse), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn put_fraud_rules(
    State(state): State<AppState>,
    principal: Principal,
    Json(rules): Json<FraudRules>,
) -> Result<Json<FraudRulesResponse>> {
    principal.require(Permission::ManageMlmSettings)?;
    Ok(Json(
        fraud::replace_rules(&state.db, &rules, &principal.actor())
            .await?
            .into(),
    ))
}

/// `?kind=&limit=&beforeId=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BlocklistParams {
    /// Only entries of this kind.
    #[param(value_type = Option<String>, example = "phone")]
    kind: Option<BlocklistKind>,
    /// How many (1 to 200, default 50).
    limit: Option<i64>,
    /// Only entries with a smaller id.
    before_id: Option<i32>,
}

/// The blocklist, newest first. Needs `manage-mlm-settings`.
#[utoipa::path(get, path = "/api/loyalty/blocklist", tag = "fraud", security(("bearer" = [])),
    params(BlocklistParams),
    responses((status = 200, body = Vec<BlocklistEntry>), (status = 403, body = ErrorBody)))]
async fn list_blocklist(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<BlocklistParams>,
) -> Result<Json<Vec<BlocklistEntry>>> {
    principal.require(Permission::ManageMlmSettings)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(
        fraud::blocklist(&state.db, params.kind, limit, params.before_id).await?,
    ))
}

/// A new blocklist entry.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlocklistRequest {
    /// `phone`, `email_domain`, `device` or `address`.
    kind: BlocklistKind,
    /// The value, normalised by kind before it is stored: a phone in any common
    /// spelling (kept E.164), a domain (`@Example.com` → `example.com`), a device id, an
    /// address (normalised as delivery addresses are).
    value: String,
    /// Why (up to 500 characters).
    note: Option<String>,
}

/// Adds a blocklist entry: a friend matching it gets no referral (`blocklisted`).
/// Needs `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/blocklist", tag = "fraud", security(("bearer" = [])),
    request_body = BlocklistRequest,
    responses((status = 201, body = BlocklistEntry), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "blocklist_entry_exists"),
              (status = 422, body = ErrorBody)))]
async fn create_blocklist_entry(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<BlocklistRequest>,
) -> Result<(StatusCode, Json<BlocklistEntry>)> {
    principal.require(Permission::ManageMlmSettings)?;
    let entry = fraud::add_to_blocklist(
        &state.db,
        body.kind,
        &body.value,
        body.note.as_deref(),
        &principal.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Removes a blocklist entry. Needs `manage-mlm-settings`.
#[utoipa::path(delete, path = "/api/loyalty/blocklist/{id}", tag = "fraud", security(("bearer" = [])),
    params(("id" = i32, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "blocklist_entry_not_found")))]
async fn delete_blocklist_entry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i32>,
) -> Result<StatusCode> {
    principal.require(Permission::ManageMlmSettings)?;
    fraud::remove_from_blocklist(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
