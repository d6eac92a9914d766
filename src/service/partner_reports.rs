//! A partner's report, for staff (`GET /api/loyalty/referral-partners/:code/report`) and
//! for the partner itself (`GET /api/partners/me/report`): one function, one shape
//! ([`PartnerReport`]); the definitions of its numbers are in
//! [`crate::domain::partner_report`].

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::partners::partner_not_found;
use crate::db::partner_reports::{FunnelNumbers, OrderNumbers};
use crate::db::{self, ReportsDb};
use crate::domain::partner::{Partner, ReportWindow};
use crate::domain::partner_report::{
    CommissionTotals, OrderOutcomes, PartnerFunnel, PartnerOrder, PartnerReport, PartnerRevenue,
    ReferredCustomers, UtmReportLine, taka,
};
use crate::domain::time::Timestamp;
use crate::error::{Code, Error, Result};

/// How many orders a report lists when `limit` is absent.
pub const DEFAULT_ORDER_LIMIT: i64 = 50;
/// The most orders a report lists (TrustCart's bound).
pub const MAX_ORDER_LIMIT: i64 = 2000;

/// What a report is asked for: `?from=&to=&limit=`.
#[derive(Clone, Copy, Debug)]
pub struct ReportQuery {
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// To (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Orders listed, 1 to [`MAX_ORDER_LIMIT`] (checked by the route's `page_limit`).
    pub limit: i64,
}

impl ReportQuery {
    /// 400 `invalid_query` for a window that ends before it starts (an empty window,
    /// `from = to`, is a valid question with zeros for an answer).
    fn check(&self) -> Result<()> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(Error::new(Code::InvalidQuery, "to must not be before from"));
        }
        Ok(())
    }
}

/// The report of the partner whose code is `code` (case-insensitive, active or not).
pub async fn report_by_code(
    reports: &ReportsDb,
    code: &str,
    query: ReportQuery,
) -> Result<PartnerReport> {
    query.check()?;
    let (mut tx, mut beside) = reports.begin_pair().await?;
    let partner = db::partners::find_by_code(&mut *tx, code)
        .await?
        .ok_or_else(partner_not_found)?;
    report(&mut tx, beside.as_deref_mut(), &partner, query).await
}

/// The report of partner `id` (the partner's own, through its token).
pub async fn report_by_id(
    reports: &ReportsDb,
    id: Uuid,
    query: ReportQuery,
) -> Result<PartnerReport> {
    query.check()?;
    let (mut tx, mut beside) = reports.begin_pair().await?;
    let partner = db::partners::find(&mut *tx, id)
        .await?
        .ok_or_else(partner_not_found)?;
    report(&mut tx, beside.as_deref_mut(), &partner, query).await
}

/// The partner named by `text`: its id (a UUID) or its code (case-insensitive). For the
/// command line, where an operator types either.
pub async fn partner_named(pool: &PgPool, text: &str) -> Result<Partner> {
    let text = text.trim();
    let found = match Uuid::parse_str(text) {
        Ok(id) => db::partners::find(pool, id).await?,
        Err(_) => db::partners::find_by_code(pool, text).await?,
    };
    found.ok_or_else(partner_not_found)
}

/// The funnel half of a report: its counts and sums, then the signups by UTM.
async fn funnel_half(
    conn: &mut PgConnection,
    partner: &Partner,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> sqlx::Result<(FunnelNumbers, Vec<UtmReportLine>)> {
    let funnel =
        db::partner_reports::funnel_numbers(&mut *conn, partner.id, &partner.code, from, to)
            .await?;
    let by_utm = db::partner_reports::by_utm(conn, partner.id, from, to).await?;
    Ok((funnel, by_utm))
}

/// The order half of a report: its counts and sums, then the newest orders they name.
async fn orders_half(
    conn: &mut PgConnection,
    partner: &Partner,
    query: ReportQuery,
) -> sqlx::Result<(OrderNumbers, Vec<PartnerOrder>)> {
    let ReportQuery { from, to, limit } = query;
    let numbers =
        db::partner_reports::order_numbers(&mut *conn, partner.id, from, to, limit).await?;
    let orders = db::partner_reports::orders(conn, &numbers.latest_order_ids).await?;
    Ok((numbers, orders))
}

/// The report's statements in its two halves, on read-only transactions that share one
/// snapshot ([`ReportsDb::begin_pair`]): the funnel and the signups by UTM on `conn`, the
/// orders at the same time on `beside` when there is one, else after the funnel on `conn`.
/// Each half is about half of the work (the biggest partner of `bench/partner-report.sh`:
/// 28 and 24 ms in psql, against 50 ms for one statement).
async fn report(
    conn: &mut PgConnection,
    beside: Option<&mut PgConnection>,
    partner: &Partner,
    query: ReportQuery,
) -> Result<PartnerReport> {
    let ReportQuery { from, to, .. } = query;
    let ((funnel, by_utm), (numbers, orders)) = match beside {
        Some(beside) => tokio::try_join!(
            funnel_half(conn, partner, from, to),
            orders_half(beside, partner, query)
        )?,
        None => (
            funnel_half(&mut *conn, partner, from, to).await?,
            orders_half(conn, partner, query).await?,
        ),
    };
    let outcomes = OrderOutcomes::new(
        numbers.delivered,
        numbers.returned,
        numbers.refused,
        numbers.cancelled,
        numbers.open,
    );
    Ok(PartnerReport {
        partner_code: partner.code.clone(),
        window: ReportWindow {
            from: from.map(Timestamp::from),
            to: to.map(Timestamp::from),
        },
        funnel: PartnerFunnel {
            total_events: funnel.total_events,
            clicked: funnel.clicked,
            invited: 0,
            registered: funnel.registered,
            completed: funnel.completed,
            reward_credited: funnel.reward_credited,
            unique_referred_customers: funnel.unique_referred_customers,
            attributed_orders: outcomes.orders,
            first_orders: funnel.first_orders,
            delivered: funnel.first_orders_delivered,
            returned: funnel.first_orders_returned,
        },
        revenue: PartnerRevenue {
            order_count: numbers.delivered,
            total_revenue: taka(numbers.revenue),
            total_discount: None,
        },
        orders,
        by_utm,
        order_outcomes: outcomes,
        referred_customers: ReferredCustomers::new(
            funnel.registered,
            numbers.cohort_orders,
            numbers.lifetime_value,
        ),
        commission: CommissionTotals {
            pending: taka(funnel.commission_pending),
            released: taka(funnel.commission_released),
            paid: taka(funnel.commission_paid),
        },
    })
}
