//! The programme's KPIs for the admin dashboard, and the fold of their counters.

use sqlx::PgPool;

use crate::db::{self, ReportsDb};
use crate::domain::kpi::Dashboard;
use crate::error::Result;

/// The KPIs and the membership counts, from the kept counters on the reports' database
/// (one statement over a few hundred rows, whatever the number of customers).
pub async fn dashboard(reports: &ReportsDb) -> Result<Dashboard> {
    let mut tx = reports.begin().await?;
    Ok(db::kpis::dashboard(&mut *tx).await?)
}

/// The most fold statements one tick runs (so a backlog never keeps shutdown waiting).
const FOLDS_PER_TICK: u32 = 100;

/// Folds the KPI deltas into their totals until none is left (or [`FOLDS_PER_TICK`]
/// statements ran); returns how many were folded. Another instance folding meanwhile makes
/// this one stop at once: the fold is a singleton (see [`db::kpis::fold`]).
pub async fn fold(pool: &PgPool) -> sqlx::Result<i64> {
    let mut conn = pool.acquire().await?;
    let mut folded = 0;
    for _ in 0..FOLDS_PER_TICK {
        match db::kpis::fold(&mut conn).await? {
            Some(n) => {
                folded += n;
                if n < db::kpis::FOLD_BATCH {
                    break;
                }
            }
            None => break,
        }
    }
    Ok(folded)
}
