//! The programme's KPIs for the admin dashboard.

use sqlx::PgPool;

use crate::db;
use crate::domain::kpi::Dashboard;
use crate::error::Result;

/// The KPIs and the membership counts, computed in one statement.
pub async fn dashboard(pool: &PgPool) -> Result<Dashboard> {
    Ok(db::kpis::dashboard(pool).await?)
}
