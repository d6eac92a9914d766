//! Login and the caller's identity (TrustCart's `POST /api/auth/login`, `GET /api/auth/me`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Principal;
use crate::domain::account::{LoginResponse, MeResponse};
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::Json;
use crate::http::rate_limit::LoginRateLimit;
use crate::service::auth;

/// The auth routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(get_me))
}

/// What the frontend sends: `{identifier, email: identifier, password}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// Email or phone.
    identifier: Option<String>,
    /// Alias of `identifier`.
    email: Option<String>,
    /// Alias of `identifier`.
    phone: Option<String>,
    /// The password.
    password: Option<String>,
}

/// Logs in a customer (email or phone) or a staff user (email); returns a 24-hour token.
/// Rate-limited per client; an account locks after repeated failures.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses((status = 201, body = LoginResponse),
              (status = 401, body = ErrorBody, description = "invalid_credentials"),
              (status = 429, body = ErrorBody, description = "rate_limited or account_locked; see Retry-After")))]
async fn login(
    _limit: LoginRateLimit,
    State(state): State<AppState>,
    Json(body): Json<LoginRequest>,
) -> Result<(StatusCode, Json<LoginResponse>)> {
    let identifier = [body.identifier, body.email, body.phone]
        .into_iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("identifier", "is required (email or phone)"))?;
    let password = body
        .password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Error::invalid_field("password", "is required"))?;
    let response = auth::login(&state.db, &state.jwt, &state.config, &identifier, password).await?;
    Ok((StatusCode::CREATED, Json(response)))
}

/// The caller, with their roles and permissions (empty for customers).
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
async fn get_me(State(state): State<AppState>, principal: Principal) -> Result<Json<MeResponse>> {
    Ok(Json(auth::me(&state.db, &principal).await?))
}
