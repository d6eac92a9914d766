//! A partner's report, for staff (`GET /api/loyalty/referral-partners/:code/report`) and
//! for the partner itself (`GET /api/partners/me/report`): one function, one shape
//! ([`PartnerReport`]); the definitions of its numbers are in
//! [`crate::domain::partner_report`].

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::partners::partner_not_found;
use crate::db::{self, ReportsDb};
use crate::domain::partner::{Partner, ReportWindow};
use crate::domain::partner_report::{
    CommissionTotals, OrderOutcomes, PartnerFunnel, PartnerReport, PartnerRevenue,
    ReferredCustomers, taka,
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
    let mut tx = reports.begin().await?;
    let partner = db::partners::find_by_code(&mut *tx, code)
        .await?
        .ok_or_else(partner_not_found)?;
    report(&mut tx, &partner, query).await
}

/// The report of partner `id` (the partner's own, through its token).
pub async fn report_by_id(
    reports: &ReportsDb,
    id: Uuid,
    query: ReportQuery,
) -> Result<PartnerReport> {
    query.check()?;
    let mut tx = reports.begin().await?;
    let partner = db::partners::find(&mut *tx, id)
        .await?
        .ok_or_else(partner_not_found)?;
    report(&mut tx, &partner, query).await
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

/// The report's three statements, in the caller's read-only transaction: one snapshot.
async fn report(
    conn: &mut PgConnection,
    partner: &Partner,
    query: ReportQuery,
) -> Result<PartnerReport> {
    let ReportQuery { from, to, limit } = query;
    let numbers =
        db::partner_reports::numbers(&mut *conn, partner.id, &partner.code, from, to, limit)
            .await?;
    let orders = db::partner_reports::orders(&mut *conn, &numbers.latest_order_ids).await?;
    let by_utm = db::partner_reports::by_utm(&mut *conn, partner.id, from, to).await?;
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
            total_events: numbers.total_events,
            clicked: numbers.clicked,
            invited: 0,
            registered: numbers.registered,
            completed: numbers.completed,
            reward_credited: numbers.reward_credited,
            unique_referred_customers: numbers.unique_referred_customers,
            attributed_orders: outcomes.orders,
            first_orders: numbers.first_orders,
            delivered: numbers.first_orders_delivered,
            returned: numbers.first_orders_returned,
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
            numbers.registered,
            numbers.cohort_orders,
            numbers.lifetime_value,
        ),
        commission: CommissionTotals {
            pending: taka(numbers.commission_pending),
            released: taka(numbers.commission_released),
            paid: taka(numbers.commission_paid),
        },
    })
}
