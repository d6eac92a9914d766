//! The use cases: each one validates its input, opens the transaction it needs, calls the
//! SQL in [`crate::db`] and turns outcomes into [`crate::error::Error`]s. HTTP handlers
//! (TrustCart-compatible or not) are thin wrappers around these.

pub mod attribution;
pub mod auth;
pub mod campaigns;
pub mod cards;
pub mod codes;
pub mod couriers;
pub mod crm;
pub mod customers;
pub mod dry_run;
pub mod event_relay;
pub mod fraud;
pub mod grocery;
pub mod kpis;
pub mod loyalty;
pub mod messaging;
pub mod orders;
pub mod outbox;
pub mod partner_reports;
pub mod partners;
pub mod payouts;
pub mod phone_verification;
pub mod price_locks;
pub mod reconcile;
pub mod referrals;
pub mod reminders;
pub mod reviews;
pub mod share;
pub mod signup;
pub mod wallets;
pub mod webhooks;
pub mod withdrawals;

use sqlx::PgPool;

use crate::db;
use crate::error::{Code, Error, Result};

/// The 400 of a cursor (`beforeId`, …) that names no row of the list: a list whose order is
/// not the id's own (campaigns, partners, coupons) reads its cursor's sort keys from the row.
pub(crate) fn unknown_cursor(param: &str, what: &str) -> Error {
    Error::new(Code::InvalidQuery, format!("{param} names no {what}"))
}

/// A page of one customer's rows. An empty page is a 404 when the customer does not exist,
/// so a typo in an id is never mistaken for a customer with no history.
pub(crate) async fn customer_page<T>(
    pool: &PgPool,
    customer_id: i32,
    rows: Vec<T>,
) -> Result<Vec<T>> {
    if rows.is_empty() && !db::customers::exists(pool, customer_id).await? {
        return Err(Error::customer_not_found());
    }
    Ok(rows)
}
