//! The programme's KPIs for the admin dashboard.

use crate::db::{self, ReportsDb};
use crate::domain::kpi::Dashboard;
use crate::error::Result;

/// The KPIs and the membership counts, computed in one statement on the reports' database.
pub async fn dashboard(reports: &ReportsDb) -> Result<Dashboard> {
    let mut tx = reports.begin().await?;
    Ok(db::kpis::dashboard(&mut *tx).await?)
}
