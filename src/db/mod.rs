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
pub mod event_publications;
pub mod events;
pub mod fraud;
pub mod grocery;
pub mod holds;
pub mod kpis;
pub mod lean;
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, Transaction};

use crate::config::Config;
use crate::error::{DEADLOCK_DETECTED, SERIALIZATION_FAILURE};

/// Opens the connection pool, creating the database first if it does not exist.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = config
        .database_url()
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    ensure_database_exists(&options).await?;
    pool_options(config.database_max_connections, config)
        .connect_with(session_options(options, config))
        .await
        .context("connecting to PostgreSQL")
}

/// The settings of every pool the server opens (the primary's, the replica's), with
/// `max_connections` connections at most.
fn pool_options(max_connections: u32, config: &Config) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // sqlx pings every connection it hands out (a round trip per request) and again
        // when it is returned. The second ping stays; the first is redundant with it, and
        // a connection that broke while idle fails its query with a 503 and is closed.
        .test_before_acquire(false)
        .acquire_timeout(config.database_acquire_timeout)
        .idle_timeout(Duration::from_secs(600))
        .max_lifetime(Duration::from_secs(1800))
}

/// The session settings of every connection the server opens (the lean pool's are copied
/// from the primary pool's): `idle_in_transaction_session_timeout`, sent in the startup
/// packet so that no round trip sets it.
fn session_options(options: PgConnectOptions, config: &Config) -> PgConnectOptions {
    let timeout = config.database_idle_in_transaction_timeout.as_millis();
    options.options([(
        "idle_in_transaction_session_timeout",
        format!("{timeout}ms"),
    )])
}

/// How long start-up and `/readyz` wait for the read replica: one that hangs must not
/// hold the readiness probe past a load balancer's timeout.
pub const REPLICA_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The database the report and KPI routes read: the read replica when
/// `DATABASE_READ_URL` is set, the primary's own pool otherwise ([`reports_db`] decides,
/// once). A service function that may read a lagging copy takes this type instead of a
/// `PgPool`, so which routes read the replica is written in their signatures; money
/// paths, auth lookups and anything that reads its own writes take the primary's
/// `PgPool` and cannot be handed this.
///
/// While the replica is marked lagging ([`ReportsDb::set_lagging`]: its replay more than
/// `DATABASE_READ_MAX_LAG_SECS` behind, as `jobs::watch_replica_lag` measures it), the
/// reports read the primary instead, in the same read-only transactions.
#[derive(Clone, Debug)]
pub struct ReportsDb {
    pool: PgPool,
    /// With a replica: the primary, where the reports read while the replica lags.
    primary: Option<PgPool>,
    lagging: Arc<AtomicBool>,
}

impl ReportsDb {
    /// Reports read the primary through its pool (`DATABASE_READ_URL` unset).
    pub fn primary(pool: PgPool) -> Self {
        Self {
            pool,
            primary: None,
            lagging: Arc::default(),
        }
    }

    /// Reports read a replica through `replica`, and `primary` while it lags.
    pub fn replica(replica: PgPool, primary: PgPool) -> Self {
        Self {
            pool: replica,
            primary: Some(primary),
            lagging: Arc::default(),
        }
    }

    /// Whether the reports read a replica (and may lag the primary).
    pub fn is_replica(&self) -> bool {
        self.primary.is_some()
    }

    /// The replica's pool (the primary's without one): for the readiness probe, the
    /// metrics, the lag watch and shutdown only.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the reports read the primary because the replica lags.
    pub fn is_lagging(&self) -> bool {
        self.is_replica() && self.lagging.load(Ordering::Relaxed)
    }

    /// Marks the replica as lagging (the reports read the primary) or caught up; every
    /// clone of this value sees it. Without a replica it changes nothing.
    pub fn set_lagging(&self, lagging: bool) {
        self.lagging.store(lagging, Ordering::Relaxed);
    }

    /// Pings the database the reports read, waiting at most [`REPLICA_PROBE_TIMEOUT`].
    pub async fn probe(&self) -> anyhow::Result<()> {
        tokio::time::timeout(REPLICA_PROBE_TIMEOUT, ping(&self.pool))
            .await
            .context("no answer in time")?
            .context("the ping failed")
    }

    /// A read-only transaction at repeatable read, the only way a report reads: its
    /// statements see one snapshot, and one that writes fails with SQLSTATE 25006 (a 503
    /// `database_read_only`) on the primary exactly as on a replica, so a report that
    /// writes fails its tests even where no replica is configured. Dropping it ends it.
    /// On the primary while the replica lags.
    pub async fn begin(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.current().begin_with(READ_ONLY_SNAPSHOT).await
    }

    /// Such a transaction, and beside it a second one that sees the same snapshot when the
    /// pool has a connection idle at this moment (the second imports the first's snapshot:
    /// `pg_export_snapshot`, then `SET TRANSACTION SNAPSHOT`; a standby exports too), so that
    /// a report can read two halves at once, on two connections, and its numbers still add
    /// up. The second is never waited for: a caller holding one connection while it waits
    /// for another could starve the pool (every report holding one, none getting a second),
    /// so without an idle connection the report reads its halves one after the other.
    pub async fn begin_pair(
        &self,
    ) -> sqlx::Result<(
        Transaction<'static, Postgres>,
        Option<Transaction<'static, Postgres>>,
    )> {
        let pool = self.current();
        let mut first = pool.begin_with(READ_ONLY_SNAPSHOT).await?;
        let Some(mut second) = pool.try_begin_with(READ_ONLY_SNAPSHOT).await? else {
            return Ok((first, None));
        };
        let snapshot = sqlx::query_scalar!(r#"select pg_export_snapshot() as "id!""#)
            .fetch_one(&mut *first)
            .await?;
        // SET takes no bind parameters; the id is PostgreSQL's own (hex digits and dashes,
        // `00000003-0000001B-1`), checked all the same before it is spliced in.
        if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(sqlx::Error::Protocol(format!(
                "unexpected snapshot id {snapshot:?}"
            )));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "set transaction snapshot '{snapshot}'"
        )))
        .execute(&mut *second)
        .await?;
        Ok((first, Some(second)))
    }

    /// The replica, or the primary while the replica lags.
    fn current(&self) -> &PgPool {
        match &self.primary {
            Some(primary) if self.lagging.load(Ordering::Relaxed) => primary,
            _ => &self.pool,
        }
    }
}

/// How a report's transaction begins: one snapshot for all its statements, no writes.
const READ_ONLY_SNAPSHOT: &str = "begin isolation level repeatable read, read only";

/// Where the reports read: a pool to `DATABASE_READ_URL` when it is set, else `primary`.
/// The replica's pool connects lazily and is never created or migrated (the primary's
/// migrations reach it by replication), so a replica that is down at start-up only makes
/// the report routes answer 503 until it is back.
pub fn reports_db(config: &Config, primary: &PgPool) -> anyhow::Result<ReportsDb> {
    let Some(url) = config.database_read_url() else {
        return Ok(ReportsDb::primary(primary.clone()));
    };
    let options: PgConnectOptions = url
        .parse()
        .context("DATABASE_READ_URL is not a valid PostgreSQL URL")?;
    let pool = pool_options(config.database_read_max_connections, config)
        .connect_lazy_with(session_options(options, config));
    Ok(ReportsDb::replica(pool, primary.clone()))
}

/// How far a replica is behind its primary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaLag {
    /// WAL the primary had written that the replica had not replayed yet.
    pub bytes: f64,
    /// Since the last transaction the replica replayed, when it is behind; 0 when it has
    /// replayed everything the primary had written (an idle primary does not make a
    /// caught-up replica look late).
    pub seconds: f64,
}

/// How far the replica behind `replica` is behind `primary`; `None` when it is not a
/// standby (`DATABASE_READ_URL` naming a primary) or has replayed nothing yet.
pub async fn replica_lag(primary: &PgPool, replica: &PgPool) -> sqlx::Result<Option<ReplicaLag>> {
    let written = sqlx::query_scalar!(r#"select pg_current_wal_lsn()::text as "lsn!""#)
        .fetch_one(primary)
        .await?;
    let row = sqlx::query!(
        r#"select pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn())::float8 as bytes,
                  case when pg_last_wal_replay_lsn() >= $1::text::pg_lsn then 0
                       else extract(epoch from now() - pg_last_xact_replay_timestamp())
                  end::float8 as seconds
           where pg_is_in_recovery()"#,
        written
    )
    .fetch_optional(replica)
    .await?;
    Ok(row.and_then(|row| {
        Some(ReplicaLag {
            bytes: row.bytes?.max(0.0),
            seconds: row.seconds?.max(0.0),
        })
    }))
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
