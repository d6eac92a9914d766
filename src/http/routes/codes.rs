//! Public code checks and the landing page of shared links and printed QR cards.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::Result;
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::{Json, Path, Query};
use crate::http::rate_limit::PublicRateLimit;
use crate::service::codes::{self, CodeCheckResponse};
use crate::service::fraud::ClientSignals;

/// The code routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_code))
        .routes(routes!(land))
}

/// Checks a share, partner or invite code. Public, rate-limited; writes nothing.
#[utoipa::path(get, path = "/api/referral-codes/{code}", tag = "referrals",
    params(("code" = String, Path)),
    responses((status = 200, body = CodeCheckResponse), (status = 429, body = ErrorBody)))]
async fn check_code(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<CodeCheckResponse>> {
    Ok(Json(codes::check(&state.db, &code).await?))
}

/// `?ch=`: the channel the link was shared through.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LandingParams {
    /// `qr`, `whatsapp`, `facebook`, `sms`, `delivery_card`, … (default `share_link`).
    ch: Option<String>,
}

/// The landing page of shared links and printed QR cards (`/r/REF000123?ch=qr`): records
/// a `clicked` event with its channel, then redirects to the shop's registration page
/// with the code and the channel, so the QR channel is not lost. The visitor's
/// `X-Device-Id` and hashed address are kept as fraud signals. Public, rate-limited.
#[utoipa::path(get, path = "/r/{code}", tag = "referrals",
    params(("code" = String, Path), LandingParams),
    responses((status = 302, description = "To the shop's registration page"), (status = 429, body = ErrorBody)))]
async fn land(
    _limit: PublicRateLimit,
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(params): Query<LandingParams>,
    client: ClientSignals,
) -> Result<Response> {
    let landing = codes::land(&state.db, &code, params.ch.as_deref(), &client).await?;
    let target = match landing.code {
        // Canonical codes are ASCII letters, digits, `_` and `-`: safe in a query string.
        Some(code) => format!(
            "{}/register?ref={code}&referralChannel={}",
            state.config.shop_url,
            landing.channel.as_str()
        ),
        None => format!("{}/register", state.config.shop_url),
    };
    let location =
        HeaderValue::try_from(target).map_err(|e| anyhow::anyhow!("redirect target: {e}"))?;
    let no_store = HeaderValue::from_static("no-store");
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, no_store),
        ],
    )
        .into_response())
}
