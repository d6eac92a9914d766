//! The partner report's queries (definitions in [`crate::domain::partner_report`]).
//!
//! Every query starts from the partner and walks indexes only: the partner's referrals
//! (`customer_referrals_partner_created_idx`), the partner's orders
//! (`sales_orders_partner_created_idx` by time, `sales_orders_partner_customer_idx` by
//! customer: `migrations/20261208000100_partner_orders.sql`, whose triggers stamp every
//! order with the partner it counts for), the partner's events
//! (`referral_events_partner_created_idx`), the referrals' rewards (`referral_rewards_once`)
//! and the partner's commissions (`partner_commissions_partner_created_idx`).
//! `bench/partner-report.sh` prints their plans at a million orders.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::order::OrderStatus;
use crate::domain::partner_report::{MAX_UTM_LINES, PartnerOrder, UtmReportLine};
use crate::domain::time::Timestamp;

/// The funnel half of a partner's report: its events, signups, completions, rewards, the
/// signups' first orders and its commissions, read in one statement.
#[derive(Debug)]
pub struct FunnelNumbers {
    /// Events carrying the code in the window.
    pub total_events: i64,
    /// Of those, clicks.
    pub clicked: i64,
    /// Signups in the window.
    pub registered: i64,
    /// Distinct customers of those signups.
    pub unique_referred_customers: i64,
    /// Referrals completed in the window, still completed.
    pub completed: i64,
    /// Rewards released in the window, still released.
    pub reward_credited: i64,
    /// Of the window's signups: those with an order since, whose first was delivered,
    /// whose delivered first order came back.
    pub first_orders: i64,
    /// See `first_orders`.
    pub first_orders_delivered: i64,
    /// See `first_orders`.
    pub first_orders_returned: i64,
    /// Commissions earned in the window, by their state now: pending, released, paid.
    pub commission_pending: Decimal,
    /// See `commission_pending`.
    pub commission_released: Decimal,
    /// See `commission_pending`.
    pub commission_paid: Decimal,
}

/// The order half of a partner's report: what became of the window's orders, what they
/// kept, the window's signups' orders since, and the newest orders' ids, read in one
/// statement.
#[derive(Debug)]
pub struct OrderNumbers {
    /// Orders placed in the window, by what became of them.
    pub delivered: i64,
    /// See `delivered`.
    pub returned: i64,
    /// See `delivered`.
    pub refused: i64,
    /// See `delivered`.
    pub cancelled: i64,
    /// See `delivered`.
    pub open: i64,
    /// What the window's successful orders kept (totals less refunds).
    pub revenue: Decimal,
    /// The window's signups' successful orders since signing up.
    pub cohort_orders: i64,
    /// What those kept: the lifetime value.
    pub lifetime_value: Decimal,
    /// The newest orders placed in the window, newest first, at most the limit.
    pub latest_order_ids: Vec<i32>,
}

/// Sets how a report's statements are planned, for the rest of the caller's transaction.
///
/// - For the arguments of each call (`plan_cache_mode = force_custom_plan`): the generic
///   plan a pooled connection switches to after five executions sorts the first orders
///   instead of reading them in customer order and scans without parallel workers, 84 ms
///   against 48 ms (6 ms of it planning) for the biggest partner of
///   `bench/partner-report.sh`.
/// - Without parallel workers: the report reads its two halves at once on two
///   connections, and workers on top of them over-subscribed the bench machine's 2 cores
///   (the halves took 35 and 50 ms side by side with workers, 24 and 28 ms without; the
///   whole report in one statement, 50 ms).
async fn plan_for_report(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::raw_sql(
        "set local plan_cache_mode = force_custom_plan;
         set local max_parallel_workers_per_gather = 0",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The funnel numbers of partner `partner_id` (code `code`) between `from` and `to`.
///
/// Signups, completions and rewards start from the partner's referrals; events from its
/// code; first orders read the partner's orders in customer order
/// (`sales_orders_partner_customer_idx`), each customer's first the first entry of its run.
pub async fn funnel_numbers(
    conn: &mut PgConnection,
    partner_id: Uuid,
    code: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<FunnelNumbers> {
    plan_for_report(&mut *conn).await?;
    sqlx::query_as!(
        FunnelNumbers,
        r#"with refs as materialized (
               select r.id, r.referred_customer_id as customer_id, r.created_at, r.status,
                      r.completed_at, r.completions,
                      ($3::timestamptz is null or r.created_at >= $3)
                          and ($4::timestamptz is null or r.created_at < $4) as cohort
               from customer_referrals r
               where r.partner_id = $1 and r.referred_customer_id is not null
           ),
           firsts as (
               select distinct on (o.customer_id) o.delivered_at,
                      order_result(o.status, o.delivered_at) as result
               from sales_orders o
               where o.partner_id = $1
                 and ($3::timestamptz is null or o.partner_referred_at >= $3)
                 and ($4::timestamptz is null or o.partner_referred_at < $4)
               order by o.customer_id, o.created_at, o.id
           ),
           events as (
               select count(*) as total, count(*) filter (where e.event_type = 'clicked') as clicked
               from referral_events e
               where lower(e.partner_code) = lower($2) and e.partner_code is not null
                 and ($3::timestamptz is null or e.created_at >= $3)
                 and ($4::timestamptz is null or e.created_at < $4)
           ),
           commissions as (
               select coalesce(sum(amount) filter (where status = 'pending'), 0) as pending,
                      coalesce(sum(amount) filter (where status = 'released'), 0) as released,
                      coalesce(sum(amount) filter (where status = 'paid'), 0) as paid
               from partner_commissions pc
               where pc.partner_id = $1
                 and ($3::timestamptz is null or pc.created_at >= $3)
                 and ($4::timestamptz is null or pc.created_at < $4)
           )
           select
               ev.total as "total_events!",
               ev.clicked as "clicked!",
               (select count(*) from refs where cohort) as "registered!",
               (select count(distinct customer_id) from refs where cohort) as "unique_referred_customers!",
               (select count(*) from refs
                where status = 'completed'
                  and ($3::timestamptz is null or completed_at >= $3)
                  and ($4::timestamptz is null or completed_at < $4)) as "completed!",
               (select count(*) from refs f
                join referral_rewards rr on rr.referral_id = f.id
                where f.completions > 0 and rr.status = 'released'
                  and ($3::timestamptz is null or rr.released_at >= $3)
                  and ($4::timestamptz is null or rr.released_at < $4)) as "reward_credited!",
               (select count(*) from firsts) as "first_orders!",
               (select count(*) from firsts where delivered_at is not null) as "first_orders_delivered!",
               (select count(*) from firsts where result = 'returned') as "first_orders_returned!",
               pc.pending as "commission_pending!: Decimal",
               pc.released as "commission_released!: Decimal",
               pc.paid as "commission_paid!: Decimal"
           from events ev, commissions pc"#,
        partner_id,
        code,
        from,
        to,
    )
    .fetch_one(&mut *conn)
    .await
}

/// The order numbers of partner `partner_id` between `from` and `to`, with the ids of the
/// newest `limit` orders.
///
/// An order counts for the partner when its customer signed up with the partner's code and
/// it was placed at or after that signup (`order_partner`, stamped on the order as
/// `partner_id` and `partner_referred_at`). The counts read the partner's orders since
/// `from` once, in time order (`sales_orders_partner_created_idx`): the window's orders,
/// and the later ones of the window's signups (their lifetime); the newest are a backward
/// scan of the same index.
pub async fn order_numbers(
    conn: &mut PgConnection,
    partner_id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<OrderNumbers> {
    plan_for_report(&mut *conn).await?;
    sqlx::query_as!(
        OrderNumbers,
        r#"with orders as (
               select ($2::timestamptz is null or o.partner_referred_at >= $2)
                          and ($3::timestamptz is null or o.partner_referred_at < $3) as cohort,
                      order_result(o.status, o.delivered_at) as result,
                      order_kept_value(o.status, o.total_amount, o.refunded_amount) as kept,
                      ($3::timestamptz is null or o.created_at < $3) as in_window
               from sales_orders o
               where o.partner_id = $1 and ($2::timestamptz is null or o.created_at >= $2)
           )
           select count(*) filter (where in_window and result = 'delivered') as "delivered!",
                  count(*) filter (where in_window and result = 'returned') as "returned!",
                  count(*) filter (where in_window and result = 'refused') as "refused!",
                  count(*) filter (where in_window and result = 'cancelled') as "cancelled!",
                  count(*) filter (where in_window and result = 'open') as "open!",
                  coalesce(sum(kept) filter (where in_window), 0) as "revenue!: Decimal",
                  count(*) filter (where cohort and result = 'delivered') as "cohort_orders!",
                  coalesce(sum(kept) filter (where cohort), 0) as "lifetime_value!: Decimal",
                  array(select o.id from sales_orders o
                        where o.partner_id = $1 and ($2::timestamptz is null or o.created_at >= $2)
                          and ($3::timestamptz is null or o.created_at < $3)
                        order by o.created_at desc, o.id desc limit $4) as "latest_order_ids!"
           from orders"#,
        partner_id,
        from,
        to,
        limit
    )
    .fetch_one(&mut *conn)
    .await
}

/// Orders `ids` in TrustCart's report shape, newest first.
pub async fn orders(db: impl PgExecutor<'_>, ids: &[i32]) -> sqlx::Result<Vec<PartnerOrder>> {
    sqlx::query_as!(
        PartnerOrder,
        r#"select o.id, o.sales_order_number, o.customer_id, o.total_amount,
                  null::text as "discount_amount?", o.coupon_code as offer_code, null::integer as "offer_id?",
                  o.status as "status: OrderStatus", o.created_at,
                  o.delivered_at as "delivered_at: Timestamp"
           from sales_orders o
           where o.id = any($1)
           order by o.created_at desc, o.id desc"#,
        ids
    )
    .fetch_all(db)
    .await
}

/// The partner's signups in the window (by when the referral was made) by UTM source and
/// campaign, most signups first, at most [`MAX_UTM_LINES`] lines.
pub async fn by_utm(
    db: impl PgExecutor<'_>,
    partner_id: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<UtmReportLine>> {
    sqlx::query_as!(
        UtmReportLine,
        r#"select r.utm_source, r.utm_campaign, count(*) as "signups!",
                  count(*) filter (where r.status = 'completed') as "delivered_first_orders!"
           from customer_referrals r
           where r.partner_id = $1 and r.referred_customer_id is not null
             and ($2::timestamptz is null or r.created_at >= $2) and ($3::timestamptz is null or r.created_at < $3)
           group by r.utm_source, r.utm_campaign
           order by count(*) desc, r.utm_source nulls last, r.utm_campaign nulls last
           limit $4"#,
        partner_id,
        from,
        to,
        MAX_UTM_LINES
    )
    .fetch_all(db)
    .await
}
