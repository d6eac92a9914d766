//! The KPI queries: the counters kept by triggers (migration `20261207000100_kpi_counters`),
//! their fold, and the full-scan reference reconciliation compares them with.

use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};

use crate::domain::kpi::{Dashboard, Kpis};
use crate::domain::reconcile::KpiDrift;

/// The advisory lock key that makes the fold a singleton across instances.
const FOLD_LOCK: i64 = 0x626f_6e64_6875_0002;

/// The figures as `kpi_figures` returns them, whichever counters it was given.
struct Figures {
    total_customers: i64,
    first_to_repeat_percentage: Decimal,
    member_conversion_rate: Decimal,
    avg_orders_per_customer: Decimal,
    avg_referrals_per_customer: Decimal,
    avg_customer_lifetime_value: Decimal,
    completed_referrals: i64,
    pending_referrals: i64,
    total_referral_rewards_paid: Decimal,
    total_referral_welcome_bonuses_paid: Decimal,
    silver_members: i64,
    gold_members: i64,
    permanent_members: i64,
    active_subscriptions: i64,
}

impl From<Figures> for Dashboard {
    fn from(row: Figures) -> Self {
        Dashboard {
            kpis: Kpis {
                total_customers: row.total_customers,
                first_to_repeat_percentage: row.first_to_repeat_percentage,
                member_conversion_rate: row.member_conversion_rate,
                avg_orders_per_customer: row.avg_orders_per_customer,
                avg_referrals_per_customer: row.avg_referrals_per_customer,
                avg_customer_lifetime_value: row.avg_customer_lifetime_value,
                completed_referrals: row.completed_referrals,
                total_referral_rewards_paid: row.total_referral_rewards_paid,
                total_referral_welcome_bonuses_paid: row.total_referral_welcome_bonuses_paid,
            },
            silver_members: row.silver_members,
            gold_members: row.gold_members,
            permanent_members: row.permanent_members,
            active_subscriptions: row.active_subscriptions,
            pending_referrals: row.pending_referrals,
        }
    }
}

/// The KPIs and the dashboard's membership counts from the kept counters (`kpi_counted`:
/// the folded totals and the deltas not folded yet, a few hundred rows at most).
pub async fn dashboard(db: impl PgExecutor<'_>) -> sqlx::Result<Dashboard> {
    let row = sqlx::query_as!(
        Figures,
        r#"select f.total_customers as "total_customers!",
                  f.first_to_repeat_percentage as "first_to_repeat_percentage!",
                  f.member_conversion_rate as "member_conversion_rate!",
                  f.avg_orders_per_customer as "avg_orders_per_customer!",
                  f.avg_referrals_per_customer as "avg_referrals_per_customer!",
                  f.avg_customer_lifetime_value as "avg_customer_lifetime_value!",
                  f.completed_referrals as "completed_referrals!",
                  f.pending_referrals as "pending_referrals!",
                  f.total_referral_rewards_paid as "total_referral_rewards_paid!",
                  f.total_referral_welcome_bonuses_paid as "total_referral_welcome_bonuses_paid!",
                  f.silver_members as "silver_members!",
                  f.gold_members as "gold_members!",
                  f.permanent_members as "permanent_members!",
                  f.active_subscriptions as "active_subscriptions!"
           from (select coalesce(array_agg(metric), '{}') as metrics,
                        coalesce(array_agg(value), '{}') as values
                 from kpi_counted()) c,
                kpi_figures(c.metrics, c.values) f"#
    )
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// The same figures computed from the base tables by full scans (`kpi_reference`, the
/// dashboard's definition): what [`dashboard`] must always equal. Slow at scale.
pub async fn reference_dashboard(db: impl PgExecutor<'_>) -> sqlx::Result<Dashboard> {
    let row = sqlx::query_as!(
        Figures,
        r#"select f.total_customers as "total_customers!",
                  f.first_to_repeat_percentage as "first_to_repeat_percentage!",
                  f.member_conversion_rate as "member_conversion_rate!",
                  f.avg_orders_per_customer as "avg_orders_per_customer!",
                  f.avg_referrals_per_customer as "avg_referrals_per_customer!",
                  f.avg_customer_lifetime_value as "avg_customer_lifetime_value!",
                  f.completed_referrals as "completed_referrals!",
                  f.pending_referrals as "pending_referrals!",
                  f.total_referral_rewards_paid as "total_referral_rewards_paid!",
                  f.total_referral_welcome_bonuses_paid as "total_referral_welcome_bonuses_paid!",
                  f.silver_members as "silver_members!",
                  f.gold_members as "gold_members!",
                  f.permanent_members as "permanent_members!",
                  f.active_subscriptions as "active_subscriptions!"
           from (select array_agg(metric) as metrics, array_agg(value) as values
                 from kpi_reference()) c,
                kpi_figures(c.metrics, c.values) f"#
    )
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// The most deltas one fold statement takes.
pub const FOLD_BATCH: i64 = 10_000;

/// Folds up to [`FOLD_BATCH`] of the oldest deltas into `kpi_totals`; returns how many, or
/// `None` when another instance is folding right now.
///
/// The fold itself is one statement that deletes the deltas it adds, so it is exact even
/// beside another fold (a delta deleted by one is skipped by the other) and beside any
/// reader (a snapshot sees a delta either unfolded or in the totals, never both). It is
/// still a singleton, under a transaction-level advisory lock: two folds would queue on
/// the same rows and the same totals for nothing.
pub async fn fold(conn: &mut PgConnection) -> sqlx::Result<Option<i64>> {
    let mut tx = sqlx::Acquire::begin(conn).await?;
    let locked = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock($1) as "locked!""#,
        FOLD_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(None);
    }
    let folded = sqlx::query_scalar!(
        r#"with folded as (
               delete from kpi_deltas
               where id in (select id from kpi_deltas order by id limit $1)
               returning metric, delta
           ),
           per_metric as (
               select metric, sum(delta) as delta, count(*) as n from folded group by metric
           ),
           added as (
               insert into kpi_totals as t (metric, value)
               select metric, delta from per_metric
               on conflict (metric) do update set value = t.value + excluded.value
           )
           select coalesce(sum(n), 0)::bigint as "folded!" from per_metric"#,
        FOLD_BATCH
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(folded))
}

/// The metrics whose kept counter differs from the full scans, in one statement (one
/// snapshot, so a change committing meanwhile is in both or in neither). Slow at scale:
/// reconciliation's check.
pub async fn drift(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<KpiDrift>> {
    sqlx::query_as!(
        KpiDrift,
        r#"select m::text as "metric!", coalesce(c.value, 0) as "counted!",
                  coalesce(r.value, 0) as "expected!"
           from unnest(enum_range(null::kpi_metric)) m
           left join kpi_counted() c on c.metric = m
           left join kpi_reference() r on r.metric = m
           where coalesce(c.value, 0) <> coalesce(r.value, 0)
           order by m"#
    )
    .fetch_all(db)
    .await
}
