//! The newest reconciliation report, for the admin dashboard.

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{Permission, Principal};
use crate::domain::reconcile::Report;
use crate::error::{Code, Error, Result};
use crate::http::AppState;
use crate::http::error::ErrorBody;
use crate::http::extract::Json;
use crate::service::reconcile;

/// The reconciliation routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(last_report))
}

/// The newest reconciliation report (the scheduled job's, or an operator's
/// `bondhu reconcile`). Needs `view-mlm-reports`.
#[utoipa::path(get, path = "/api/loyalty/reconciliation/last", tag = "reconciliation", security(("bearer" = [])),
    responses((status = 200, body = Report), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "report_not_found: it has not run yet")))]
async fn last_report(State(state): State<AppState>, principal: Principal) -> Result<Json<Report>> {
    principal.require(Permission::ViewMlmReports)?;
    reconcile::last(&state.db)
        .await?
        .map(Json)
        .ok_or_else(|| Error::new(Code::ReportNotFound, "Reconciliation has not run yet"))
}
