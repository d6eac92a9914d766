//! Every SQL statement Bondhu runs, as plain functions.
//!
//! Single statements take any executor (`&PgPool`, `&mut PgConnection`, a transaction);
//! functions that run several statements take `&mut PgConnection` and expect the caller to
//! hold the transaction. The money core is in SQL functions (see `migrations/`); the
//! functions here call them and translate their outcomes.

pub mod api_keys;
pub mod campaigns;
pub mod couriers;
pub mod crm;
pub mod customers;
pub mod events;
pub mod fraud;
pub mod grocery;
pub mod holds;
pub mod kpis;
pub mod logins;
pub mod loyalty;
pub mod messages;
pub mod orders;
pub mod partner_logins;
pub mod partner_reports;
pub mod partners;
pub mod payouts;
pub mod phone_codes;
pub mod price_locks;
pub mod rate_limits;
pub mod reconcile;
pub mod referrals;
pub mod reminders;
pub mod review_shares;
pub mod secrets;
pub mod users;
pub mod wallets;
pub mod webhooks;
pub mod withdrawals;

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::Config;
use crate::error::{DEADLOCK_DETECTED, SERIALIZATION_FAILURE};

/// Opens the connection pool, creating the database first if it does not exist.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .database_url()
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    ensure_database_exists(&options).await?;
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        // sqlx pings every connection it hands out (a round trip per request) and again
        // when it is returned. The second ping stays; the first is redundant with it, and
        // a connection that broke while idle fails its query with a 503 and is closed.
        .test_before_acquire(false)
        .acquire_timeout(config.database_acquire_timeout)
        .idle_timeout(Duration::from_secs(600))
        .max_lifetime(Duration::from_secs(1800))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// Applies the embedded migrations. sqlx holds an advisory lock while it does, so
/// several instances starting at once apply each migration once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    crate::MIGRATOR
        .run(pool)
        .await
        .context("running database migrations")
}

/// Creates the configured database when it is missing, through the server's
/// `postgres` maintenance database.
async fn ensure_database_exists(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    match options.connect().await {
        Ok(conn) => return conn.close().await.context("closing the probe connection"),
        Err(err) if is_missing_database(&err) => {}
        Err(err) => return Err(err).context("connecting to PostgreSQL"),
    }
    anyhow::ensure!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "database {name:?} does not exist and its name is not a plain identifier; create it by hand"
    );
    let mut admin = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("connecting to the `postgres` database to create the application database")?;
    // The name was checked above to be a plain identifier, so quoting it is enough.
    let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database \"{name}\"")))
        .execute(&mut admin)
        .await;
    match created {
        Ok(_) => tracing::info!(database = %name, "created the database"),
        // Another instance created it first (42P04), or at the same moment (23505 on the
        // catalog's unique index).
        Err(err)
            if matches!(
                err.as_database_error().and_then(|e| e.code()).as_deref(),
                Some("42P04" | "23505")
            ) => {}
        Err(err) => return Err(err).context(format!("creating database {name:?}")),
    }
    admin.close().await.context("closing the admin connection")
}

fn is_missing_database(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).as_deref() == Some("3D000")
}

/// Asks the database for the simplest possible answer (readiness probe).
pub async fn ping(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query!("select 1 as one").fetch_one(pool).await?;
    Ok(())
}

/// Runs `attempt` again when PostgreSQL aborted it for a deadlock or a serialisation
/// failure: its transaction rolled back, so trying again is safe. At most 3 tries.
pub async fn retry_transient<T, F, Fut>(mut attempt: F) -> crate::error::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::error::Result<T>>,
{
    const TRIES: u32 = 3;
    let mut try_number = 1;
    loop {
        match attempt().await {
            Err(err) if try_number < TRIES && is_transient(&err) => {
                tracing::warn!(try_number, "transient database conflict, retrying");
                crate::telemetry::metrics::serialization_retry();
                let jitter = rand::random::<u64>() % 20;
                tokio::time::sleep(Duration::from_millis(10 * u64::from(try_number) + jitter))
                    .await;
                try_number += 1;
            }
            other => return other,
        }
    }
}

fn is_transient(err: &crate::error::Error) -> bool {
    let crate::error::Error::Unavailable(err) = err else {
        return false;
    };
    matches!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED)
    )
}

/// Today's date in Asia/Dhaka, the shop's calendar (reminders, subscriptions): the SQL
/// function `dhaka_today` is the one home of "today".
pub async fn dhaka_today(db: impl sqlx::PgExecutor<'_>) -> sqlx::Result<chrono::NaiveDate> {
    sqlx::query_scalar!(r#"select dhaka_today() as "today!""#)
        .fetch_one(db)
        .await
}
