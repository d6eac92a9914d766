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
    /// Only with `DATABASE_READ_URL`: whether the read replica answers, `ok`, `lagging`
    /// (more than `DATABASE_READ_MAX_LAG_SECS` behind: the reports read the primary until
    /// it catches up) or `unavailable`. It never counts towards readiness: money paths do
    /// not read it, so a replica that is down must not take the instance out of the load
    /// balancer (the report routes answer 503 meanwhile).
    #[serde(skip_serializing_if = "Option::is_none")]
    reports: Option<&'static str>,
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
    Json(HealthResponse {
        status: "ok",
        reports: None,
    })
}

/// The primary database answers (503 otherwise). With a read replica, the body also says
/// whether it answers, without making the probe fail.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = HealthResponse), (status = 503, body = crate::http::error::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<HealthResponse>> {
    let replica = async {
        if !state.reports.is_replica() {
            return None;
        }
        Some(match state.reports.probe().await {
            Ok(()) if state.reports.is_lagging() => "lagging",
            Ok(()) => "ok",
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "the read replica does not answer"
                );
                "unavailable"
            }
        })
    };
    let (primary, reports) = tokio::join!(db::ping(&state.db), replica);
    primary?;
    Ok(Json(HealthResponse {
        status: "ready",
        reports,
    }))
}
