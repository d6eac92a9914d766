//! Share links (issue 10): a customer's share page, and review to referral (guide 4.7).

use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::posted_response;
use crate::auth::{Permission, Principal};
use crate::domain::share::ShareLinks;
use crate::error::{Code, Problems, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::Json;
use crate::service::share::{self, ReviewShare};

/// The share routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_share))
        .routes(routes!(post_review_shared))
}

/// The caller's share page: their code, the link to copy (`ch=share_link`) with its text,
/// and the WhatsApp, Facebook, SMS and email buttons' URLs, each carrying its own
/// channel's link and the text in the caller's language.
#[utoipa::path(get, path = "/api/loyalty/me/share", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = ShareLinks)))]
async fn get_my_share(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ShareLinks>> {
    let me = principal.own_customer_id(Permission::ShareReferralLink)?;
    Ok(Json(share::my_share(&state.db, &state.config, me).await?))
}

/// A review a customer just posted, reported by the shop.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewSharedRequest {
    /// The reviewer.
    customer_id: i32,
    /// The shop's id of the review (a positive integer).
    review_id: i64,
    /// The product reviewed (a positive integer).
    product_id: Option<i32>,
}

/// The shop reports that a customer posted a review, and gets the customer's share page
/// to show next to it (the copied link with `ch=review_share`). The first report of a
/// review logs a `review_created` event; a repeat answers the same links with
/// `Idempotent-Replayed: true` and logs nothing. Needs `edit-sales-orders` (the shop's
/// API key or a staff user).
#[utoipa::path(post, path = "/api/loyalty/review-shared", tag = "channels",
    security(("api_key" = []), ("bearer" = [])),
    request_body = ReviewSharedRequest,
    responses((status = 201, body = ShareLinks, description = "The links; on a repeat, the same (header Idempotent-Replayed: true)"),
              (status = 404, body = ErrorBody, description = "customer_not_found")))]
async fn post_review_shared(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<ReviewSharedRequest>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::EditSalesOrders)?;
    let mut problems = Problems::default();
    problems.check(body.review_id > 0, "reviewId", "must be a positive integer");
    problems.check(
        body.product_id.is_none_or(|id| id > 0),
        "productId",
        "must be a positive integer",
    );
    problems.finish(Code::ValidationFailed)?;
    let review = ReviewShare {
        customer_id: body.customer_id,
        review_id: body.review_id,
        product_id: body.product_id,
    };
    let (links, first) = share::review_shared(&state.db, &state.config, review).await?;
    Ok(posted_response(links, first))
}
