//! The review queue: referrals a fraud rule held for a staff user's decision.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::page_limit;
use crate::auth::{Permission, Principal};
use crate::domain::review::{ReviewItem, ReviewStatus};
use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, OptionalJson, Path, Query};
use crate::service::reviews;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// The review queue routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reviews))
        .routes(routes!(approve_review))
        .routes(routes!(reject_review))
}

/// Which reviews, and a page of them.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// `open` (the default), `approved`, `rejected` or `withdrawn`.
    #[param(value_type = Option<String>)]
    status: Option<ReviewStatus>,
    /// How many (1–200, default 50).
    limit: Option<i64>,
    /// Only reviews with a smaller id than this (the previous page's last `id`).
    before_id: Option<i64>,
}

/// A staff user's decision.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why (up to 1000 characters); kept with the decision.
    note: Option<String>,
}

/// The review queue, newest first. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/review-queue", tag = "reviews", security(("bearer" = [])),
    params(QueueParams),
    responses((status = 200, body = Vec<ReviewItem>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_reviews(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<QueueParams>,
) -> Result<Json<Vec<ReviewItem>>> {
    principal.require(Permission::ViewMlmReports)?;
    let limit = page_limit(params.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let status = params.status.unwrap_or(ReviewStatus::Open);
    Ok(Json(
        reviews::queue(&state.db, status, limit, params.before_id).await?,
    ))
}

/// Approves a held referral: its rewards go back to their hold, or are released at once
/// if the hold is over. Needs a staff user with `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/review-queue/{referralId}/approve", tag = "reviews", security(("bearer" = [])),
    params(("referralId" = i32, Path, description = "The referral held for review")),
    request_body(content = DecisionBody, description = "Optional"),
    responses((status = 200, body = ReviewItem), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "review_not_found"),
              (status = 409, body = ErrorBody, description = "review_already_decided")))]
async fn approve_review(
    state: State<AppState>,
    principal: Principal,
    referral_id: Path<i32>,
    body: OptionalJson<DecisionBody>,
) -> Result<Json<ReviewItem>> {
    decide(state, principal, referral_id, body, true).await
}

/// Rejects a held referral: its rewards are rejected and never paid, and what they took
/// from the campaign's budget is given back. Needs a staff user with `manage-mlm-settings`.
#[utoipa::path(post, path = "/api/loyalty/review-queue/{referralId}/reject", tag = "reviews", security(("bearer" = [])),
    params(("referralId" = i32, Path, description = "The referral held for review")),
    request_body(content = DecisionBody, description = "Optional"),
    responses((status = 200, body = ReviewItem), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "review_not_found"),
              (status = 409, body = ErrorBody, description = "review_already_decided")))]
async fn reject_review(
    state: State<AppState>,
    principal: Principal,
    referral_id: Path<i32>,
    body: OptionalJson<DecisionBody>,
) -> Result<Json<ReviewItem>> {
    decide(state, principal, referral_id, body, false).await
}

async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    Path(referral_id): Path<i32>,
    OptionalJson(body): OptionalJson<DecisionBody>,
    approve: bool,
) -> Result<Json<ReviewItem>> {
    let user_id = principal.staff_user_id(Permission::ManageMlmSettings)?;
    let note = body.unwrap_or_default().note;
    Ok(Json(
        reviews::decide(&state.db, referral_id, approve, user_id, note.as_deref()).await?,
    ))
}
