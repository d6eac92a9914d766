//! Liveness and readiness probes (no authentication: they reveal nothing).

use axum::extract::State;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db;
use crate::error::Result;
use crate::http::AppState;
use crate::http::extract::Json;

/// A probe's answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// `ok` or `ready`.
    status: &'static str,
}

/// The probes' routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = HealthResponse)))]
async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = HealthResponse), (status = 503, body = crate::http::error::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<HealthResponse>> {
    db::ping(&state.db).await?;
    Ok(Json(HealthResponse { status: "ready" }))
}
