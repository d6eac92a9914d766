//! Reconciliation: finding money states the live paths should never leave, and repairing
//! them through the same SQL functions as the live paths.

use sqlx::{PgConnection, PgExecutor};

use crate::domain::reconcile::{Drift, Finding, Misstamp, PartnerDrift};

/// The advisory lock key that makes reconciliation a singleton across instances.
const RECONCILE_LOCK: i64 = 0x626f_6e64_6875_0001;

/// Tries to take the session-level advisory lock of reconciliation on `conn`; false when
/// another instance holds it. Released by [`unlock`] or when the connection closes.
pub async fn try_lock(conn: &mut PgConnection) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select pg_try_advisory_lock($1) as "locked!""#,
        RECONCILE_LOCK
    )
    .fetch_one(conn)
    .await
}

/// Releases the lock taken by [`try_lock`].
pub async fn unlock(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query_scalar!(
        r#"select pg_advisory_unlock($1) as "unlocked!""#,
        RECONCILE_LOCK
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Registered referrals whose customer has a successful order that qualifies (by the live
/// rule, `qualification_refusal`) and that its refunds do not undo
/// (`completion_undone_by`): the delivery should have completed them. A referral reversed
/// by a full refund stays registered beside its delivered order, as the live path leaves
/// it; completing it again would pay its rewards twice.
pub async fn unfinished_completions(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Finding>> {
    sqlx::query_as!(
        Finding,
        r#"select distinct on (r.id) r.id as "referral_id!", o.id as "order_id?",
                  'order_delivered'::text as "reason!"
           from customer_referrals r
           join sales_orders o on o.customer_id = r.referred_customer_id
                              and order_status_is_success(o.status)
           where r.status = 'registered' and qualification_refusal(r, o) is null
             and completion_undone_by(r, o) is null
           order by r.id, o.delivered_at nulls last, o.id"#
    )
    .fetch_all(db)
    .await
}

/// Completed referrals whose hold ended and which nothing holds for review, but which
/// were never released.
pub async fn overdue_holds(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Finding>> {
    sqlx::query_as!(
        Finding,
        r#"select r.id as "referral_id!", r.qualifying_order_id as "order_id?",
                  'hold_ended'::text as "reason!"
           from customer_referrals r
           where r.status = 'completed' and r.released_at is null and r.hold_until <= now()
             and not under_review(r.id, r.completions)
           order by r.id"#
    )
    .fetch_all(db)
    .await
}

/// Completed referrals whose qualifying order undoes them (returned, cancelled, refunded:
/// `completion_undone_by`) but whose rewards were never voided or clawed back.
pub async fn unreversed_completions(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Finding>> {
    sqlx::query_as!(
        Finding,
        r#"select r.id as "referral_id!", o.id as "order_id?",
                  completion_undone_by(r, o) as "reason!"
           from customer_referrals r
           join sales_orders o on o.id = r.qualifying_order_id
           where r.status = 'completed' and completion_undone_by(r, o) is not null
           order by r.id"#
    )
    .fetch_all(db)
    .await
}

/// Wallets and points balances that differ from the sum of their ledger.
pub async fn drift(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Drift>> {
    sqlx::query_as!(
        Drift,
        r#"select w.customer_id as "customer_id!", 'wallet'::text as "ledger!",
                  w.balance as "balance!",
                  coalesce(sum(case t.transaction_type when 'credit' then t.amount else -t.amount end), 0)
                      as "ledger_sum!"
           from customer_wallets w
           left join wallet_transactions t on t.wallet_id = w.id
           group by w.id
           having w.balance <> coalesce(sum(case t.transaction_type when 'credit' then t.amount else -t.amount end), 0)
           union all
           select p.customer_id, 'points', p.active_points::numeric,
                  coalesce(sum(case t.transaction_type when 'earn' then t.points else -t.points end), 0)::numeric
           from customer_points p
           left join point_transactions t on t.customer_id = p.customer_id
           group by p.id
           having p.active_points <> coalesce(sum(case t.transaction_type when 'earn' then t.points else -t.points end), 0)
           order by 1, 2"#
    )
    .fetch_all(db)
    .await
}

/// The partners whose owed amount differs from what their commissions came to owe
/// (`partner_commissions.owed_amount`, a clawback past what was still unpaid) less what the
/// payout batches that were not rejected netted off it.
pub async fn partner_drift(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PartnerDrift>> {
    sqlx::query_as!(
        PartnerDrift,
        r#"select p.id as "partner_id!", p.code as "code!", p.owed_amount as "owed!", x.expected as "expected!"
           from referral_partners p
           cross join lateral (
               select coalesce((select sum(c.owed_amount) from partner_commissions c where c.partner_id = p.id), 0)
                      - coalesce((select sum(l.netted_amount) from payout_batch_lines l
                                  where l.partner_id = p.id and l.status <> 'rejected'), 0) as expected
           ) x
           where p.owed_amount <> x.expected
           order by p.code"#
    )
    .fetch_all(db)
    .await
}

/// The orders whose partner stamp differs from `order_partner`, the rule it keeps: one scan
/// of the orders hashed against the partner referrals (about a second per million orders
/// on the bench machine).
pub async fn misstamped_orders(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Misstamp>> {
    sqlx::query_as!(
        Misstamp,
        r#"select o.id as order_id, o.customer_id, o.partner_id as stamped, p.partner_id as "expected?"
           from sales_orders o
           left join lateral order_partner(o.customer_id, o.created_at) p on true
           where (o.partner_id, o.partner_referred_at) is distinct from (p.partner_id, p.referred_at)
           order by o.id"#
    )
    .fetch_all(db)
    .await
}

/// Stamps the orders of `customers` again under their row locks (`restamp_partner_orders`,
/// the referral trigger's step); returns how many orders it wrote.
pub async fn restamp_orders(db: impl PgExecutor<'_>, customers: &[i32]) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select restamp_partner_orders($1) as "written!""#,
        customers
    )
    .fetch_one(db)
    .await
}

/// Completes a referral a delivery should have completed (`repair_completion`).
pub async fn repair_completion(
    db: impl PgExecutor<'_>,
    referral_id: i32,
    order_id: i32,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select repair_completion($1, $2) as "repaired!""#,
        referral_id,
        order_id
    )
    .fetch_one(db)
    .await
}

/// Releases an overdue hold (`release_referral`, as the job does).
pub async fn repair_hold(db: impl PgExecutor<'_>, referral_id: i32) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select release_referral($1) as "repaired!""#, referral_id)
        .fetch_one(db)
        .await
}

/// Reverses a completion its order undid (`repair_reversal`).
pub async fn repair_reversal(db: impl PgExecutor<'_>, referral_id: i32) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select repair_reversal($1) as "repaired!""#, referral_id)
        .fetch_one(db)
        .await
}

/// Keeps a report; returns its id.
pub async fn save_report(
    db: impl PgExecutor<'_>,
    triggered_by: &str,
    repair: bool,
    started_at: chrono::DateTime<chrono::Utc>,
    report: &serde_json::Value,
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "insert into reconciliation_reports (triggered_by, repair, started_at, report)
         values ($1, $2, $3, $4) returning id",
        triggered_by,
        repair,
        started_at,
        report,
    )
    .fetch_one(db)
    .await
}

/// The newest report, as stored, with its id.
pub async fn last_report(db: impl PgExecutor<'_>) -> sqlx::Result<Option<serde_json::Value>> {
    sqlx::query_scalar!(
        r#"select report || jsonb_build_object('id', id) as "report!"
           from reconciliation_reports order by id desc limit 1"#
    )
    .fetch_optional(db)
    .await
}

/// When the newest report was started, if there is one.
pub async fn last_started_at(
    db: impl PgExecutor<'_>,
) -> sqlx::Result<Option<chrono::DateTime<chrono::Utc>>> {
    sqlx::query_scalar!("select max(started_at) from reconciliation_reports")
        .fetch_one(db)
        .await
}
