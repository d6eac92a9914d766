//! Reconciliation (guide §5 step 3): the checks of states the live paths should never
//! leave, and their repair through the live paths' own SQL functions.
//!
//! - delivered first orders whose referral was never completed (`repair_completion`);
//! - holds past their end that were never released (`release_referral`);
//! - rewards on reversed orders that were never voided or clawed back (`repair_reversal`);
//! - balances that differ from their ledger: reported only, never "fixed";
//! - KPI counters that differ from the full scans of their base tables: reported only;
//! - partners whose owed amount differs from their commissions and batches: reported only;
//! - orders whose partner stamp differs from the partner they count for
//!   (`restamp_partner_orders`: derived data, so repaired).
//!
//! One run at a time across every instance: a session advisory lock. Each repair is its
//! own transaction, and each is idempotent, so a run that dies halfway is simply run again.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;

use crate::db;
use crate::domain::reconcile::{Check, Finding, Report, StampCheck};
use crate::domain::time::Timestamp;
use crate::error::Result;

/// What a run reports as it goes: the number of steps done out of the total.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// The three repairable checks, in the order they run.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Completion,
    Hold,
    Reversal,
}

/// Runs the checks (and with `repair`, the repairs), stores the report and returns it; or
/// `None` when another instance is reconciling right now.
pub async fn run(
    pool: &PgPool,
    repair: bool,
    triggered_by: &str,
    progress: Progress<'_>,
) -> Result<Option<Report>> {
    let mut lock = pool.acquire().await?;
    if !db::reconcile::try_lock(&mut lock).await? {
        return Ok(None);
    }
    let report = checked(pool, repair, triggered_by, progress).await;
    // The lock goes with the connection if unlocking fails.
    if let Err(err) = db::reconcile::unlock(&mut lock).await {
        tracing::warn!(%err, "could not release the reconciliation lock");
        lock.close_on_drop();
    }
    report.map(Some)
}

/// The scheduled run: repairs, unless a run started less than `every` ago (on any
/// instance).
pub async fn scheduled(pool: &PgPool, every: Duration) -> Result<Option<Report>> {
    if let Some(last) = db::reconcile::last_started_at(pool).await? {
        let since = Utc::now().signed_duration_since(last);
        if since.to_std().is_ok_and(|since| since < every) {
            return Ok(None);
        }
    }
    run(pool, true, "job", &|_, _| {}).await
}

/// The newest report.
pub async fn last(pool: &PgPool) -> Result<Option<Report>> {
    db::reconcile::last_report(pool)
        .await?
        .map(|stored| serde_json::from_value(stored).map_err(|e| anyhow::Error::from(e).into()))
        .transpose()
}

async fn checked(
    pool: &PgPool,
    repair: bool,
    triggered_by: &str,
    progress: Progress<'_>,
) -> Result<Report> {
    let started_at = Utc::now();
    let found = [
        (
            Kind::Completion,
            db::reconcile::unfinished_completions(pool).await?,
        ),
        (Kind::Hold, db::reconcile::overdue_holds(pool).await?),
        (
            Kind::Reversal,
            db::reconcile::unreversed_completions(pool).await?,
        ),
    ];
    let total: u64 = if repair {
        found.iter().map(|(_, f)| f.len() as u64).sum()
    } else {
        0
    };
    let mut done = 0;
    progress(done, total);
    let mut checks = Vec::with_capacity(found.len());
    for (kind, findings) in found {
        let mut repaired = 0;
        if repair {
            for finding in &findings {
                if fix(pool, kind, finding).await? {
                    repaired += 1;
                }
                done += 1;
                progress(done, total);
            }
        }
        checks.push(Check {
            found: findings.len(),
            repaired,
            items: findings.into_iter().take(Report::MAX_ITEMS).collect(),
        });
    }
    let balance_drift = db::reconcile::drift(pool).await?;
    let kpi_drift = db::kpis::drift(pool).await?;
    let partner_drift = db::reconcile::partner_drift(pool).await?;
    let partner_stamps = partner_stamps(pool, repair).await?;
    let [
        unfinished_completions,
        overdue_holds,
        unreversed_completions,
    ] = <[Check; 3]>::try_from(checks).expect("three checks");
    let mut report = Report {
        id: None,
        triggered_by: triggered_by.to_owned(),
        repair,
        started_at: started_at.into(),
        finished_at: Timestamp::now(),
        unfinished_completions,
        overdue_holds,
        unreversed_completions,
        balance_drift,
        kpi_drift,
        partner_drift,
        partner_stamps,
    };
    let json = serde_json::to_value(&report).map_err(anyhow::Error::from)?;
    report.id =
        Some(db::reconcile::save_report(pool, triggered_by, repair, started_at, &json).await?);
    if !report.is_clean() {
        tracing::warn!(
            unfinished_completions = report.unfinished_completions.found,
            overdue_holds = report.overdue_holds.found,
            unreversed_completions = report.unreversed_completions.found,
            balance_drift = report.balance_drift.len(),
            kpi_drift = report.kpi_drift.len(),
            partner_drift = report.partner_drift.len(),
            misstamped_orders = report.partner_stamps.found,
            "reconciliation found money states to look at"
        );
    }
    Ok(report)
}

/// How many customers' orders one restamping transaction takes (their rows stay locked
/// until it commits).
const RESTAMP_BATCH: usize = 500;

/// Finds the orders whose partner stamp drifted and, with `repair`, stamps their customers'
/// orders again, [`RESTAMP_BATCH`] customers per transaction.
async fn partner_stamps(pool: &PgPool, repair: bool) -> Result<StampCheck> {
    let found = db::reconcile::misstamped_orders(pool).await?;
    let mut repaired = 0;
    if repair {
        let mut customers: Vec<i32> = found.iter().filter_map(|m| m.customer_id).collect();
        customers.sort_unstable();
        customers.dedup();
        for batch in customers.chunks(RESTAMP_BATCH) {
            let written = db::retry_transient(|| async {
                Ok(db::reconcile::restamp_orders(pool, batch).await?)
            })
            .await?;
            repaired += usize::try_from(written).unwrap_or(usize::MAX);
        }
    }
    Ok(StampCheck {
        found: found.len(),
        repaired,
        items: found.into_iter().take(Report::MAX_ITEMS).collect(),
    })
}

/// Repairs one finding through the live path's function; false when the state had moved
/// on meanwhile (someone else repaired it, or it no longer qualifies).
async fn fix(pool: &PgPool, kind: Kind, finding: &Finding) -> Result<bool> {
    db::retry_transient(|| async {
        Ok(match (kind, finding.order_id) {
            (Kind::Completion, Some(order_id)) => {
                db::reconcile::repair_completion(pool, finding.referral_id, order_id).await?
            }
            (Kind::Completion, None) => false,
            (Kind::Hold, _) => db::reconcile::repair_hold(pool, finding.referral_id).await?,
            (Kind::Reversal, _) => {
                db::reconcile::repair_reversal(pool, finding.referral_id).await?
            }
        })
    })
    .await
}
