//! Programme KPIs for the admin dashboard (TrustCart routes 23 and 24).

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Permission, Principal};
use crate::domain::kpi::{Dashboard, Kpis};
use crate::error::Result;
use crate::http::AppState;
use crate::http::extract::Json;
use crate::service::kpis;

/// The KPI routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_kpis))
        .routes(routes!(get_dashboard))
}

/// The programme's KPIs. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/kpis", tag = "kpis", security(("bearer" = [])),
    responses((status = 200, body = Kpis), (status = 401, body = crate::http::error::ErrorBody),
              (status = 403, body = crate::http::error::ErrorBody)))]
async fn get_kpis(State(state): State<AppState>, principal: Principal) -> Result<Json<Kpis>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(kpis::dashboard(&state.reports).await?.kpis))
}

/// The KPIs and the membership counts. Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/dashboard", tag = "kpis", security(("bearer" = [])),
    responses((status = 200, body = Dashboard), (status = 401, body = crate::http::error::ErrorBody),
              (status = 403, body = crate::http::error::ErrorBody)))]
async fn get_dashboard(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Dashboard>> {
    principal.require(Permission::ViewMlmReports)?;
    Ok(Json(kpis::dashboard(&state.reports).await?))
}
