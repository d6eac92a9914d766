//! Public code checks and the landing page of shared links and printed QR cards.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::domain::share::register_url;
use crate::domain::utm::Utm;
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

/// `?ch=&utm_source=&utm_medium=&utm_campaign=&utm_content=`: the channel the link was
/// shared through and its UTM tags. Tags are trimmed and cut to 100 characters; one with
/// control characters is dropped (a landing never fails because of its tags).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LandingParams {
    /// `qr`, `whatsapp`, `facebook`, `sms`, `delivery_card`, … (default `share_link`).
    ch: Option<String>,
    /// The group or site the link was posted in.
    utm_source: Option<String>,
    /// The kind of traffic.
    utm_medium: Option<String>,
    /// The campaign.
    utm_campaign: Option<String>,
    /// The post or creative.
    utm_content: Option<String>,
}

/// The landing page of shared links and printed QR cards (`/r/REF000123?ch=qr`): records
/// a `clicked` event with its channel and UTM tags, then redirects to the shop's
/// registration page with the code, the channel and the tags (percent-encoded), so the
/// QR channel and a community's tags are not lost: the register page sends them back with
/// the signup. The visitor's `X-Device-Id` and hashed address are kept as fraud signals.
/// Public, rate-limited.
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
    let utm = Utm::new(
        params.utm_source.as_deref(),
        params.utm_medium.as_deref(),
        params.utm_campaign.as_deref(),
        params.utm_content.as_deref(),
    );
    let landing = codes::land(&state.db, &code, params.ch.as_deref(), &utm, &client).await?;
    let target = register_url(
        &state.config.shop_url,
        landing.code.as_deref(),
        landing.channel,
        &utm,
    );
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
