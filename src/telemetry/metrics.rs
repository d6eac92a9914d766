//! Prometheus metrics, served on a listener of their own (`METRICS_ADDR`), never on the
//! public one.
//!
//! The `metrics` facade records; the Prometheus exporter renders. Until [`install`] runs
//! (no `METRICS_ADDR`), every recording below is a no-op, so instrumented code needs no
//! switch of its own.
//!
//! Two kinds of series:
//! - **this instance's**: requests, serialization retries, job runs, postings, releases,
//!   messages sent. Sum them across instances.
//! - **the database's**, read when the page is scraped (outbox depth, lag, dead letters):
//!   every instance reports the same value, so take `max` across instances, never `sum`.
//!
//! Labels are bounded: a route is its template (`/api/orders/{id}`), never the raw path.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

use crate::db::lean::LeanPool;
use crate::db::{self, ReportsDb};
use crate::service::event_relay::RelayRound;
use crate::service::messaging::dispatcher::Round;

/// Request latency buckets, in seconds: from a cached read to the request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 15.0,
];

const HTTP_REQUESTS: &str = "bondhu_http_requests_total";
const HTTP_DURATION: &str = "bondhu_http_request_duration_seconds";

/// The recorder's handle, installed once per process (tests build many servers in one).
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same
/// handle).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY_BUCKETS)
        .context("setting the latency buckets")?
        .build_recorder();
    let handle = recorder.handle();
    // Only the first caller's recorder becomes the global one; a racing second caller
    // gets the first one's handle.
    if HANDLE.set(handle).is_ok() {
        metrics::set_global_recorder(recorder).context("installing the metrics recorder")?;
        describe();
    }
    HANDLE
        .get()
        .cloned()
        .context("the metrics recorder is not installed")
}

/// The metrics listener's router: `GET /metrics` and nothing else.
pub fn router(
    handle: PrometheusHandle,
    pool: PgPool,
    lean: LeanPool,
    reports: ReportsDb,
) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape {
            handle,
            pool,
            lean,
            reports,
        })
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    pool: PgPool,
    lean: LeanPool,
    reports: ReportsDb,
}

/// Reads the pool and the database's gauges, then renders everything.
async fn scrape(State(scrape): State<Scrape>) -> Response {
    let pool = &scrape.pool;
    let idle = pool.num_idle();
    gauge!("bondhu_db_pool_connections", "state" => "idle").set(idle as f64);
    gauge!("bondhu_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.size()).max(idle as f64) - idle as f64);
    gauge!("bondhu_db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    let lean = &scrape.lean;
    let lean_idle = lean.num_idle();
    gauge!("bondhu_db_lean_connections", "state" => "idle").set(lean_idle as f64);
    gauge!("bondhu_db_lean_connections", "state" => "in_use")
        .set(lean.size().saturating_sub(lean_idle) as f64);
    gauge!("bondhu_db_lean_max_connections").set(lean.max_connections() as f64);
    counter!("bondhu_db_lean_connections_opened_total").absolute(lean.opened_total());
    // A database that is away leaves the last values and counts the failure: the page
    // must still answer, or the outage would hide the other series.
    match db::messages::outbox_stats(pool).await {
        Ok(stats) => {
            gauge!("bondhu_outbox_depth").set(stats.queued as f64);
            gauge!("bondhu_outbox_due").set(stats.due as f64);
            gauge!("bondhu_outbox_lag_seconds").set(stats.lag_seconds);
            gauge!("bondhu_outbox_dead").set(stats.dead as f64);
        }
        Err(err) => {
            tracing::warn!(%err, "could not read the outbox for metrics");
            counter!("bondhu_metrics_scrape_errors_total").increment(1);
        }
    }
    match db::event_publications::stats(pool).await {
        Ok(stats) => {
            gauge!("bondhu_events_relay_depth").set(stats.depth as f64);
            gauge!("bondhu_events_relay_lag_seconds").set(stats.lag_seconds);
        }
        Err(err) => {
            tracing::warn!(%err, "could not read the event relay's records for metrics");
            counter!("bondhu_metrics_scrape_errors_total").increment(1);
        }
    }
    if scrape.reports.is_replica() {
        let lag = tokio::time::timeout(
            db::REPLICA_PROBE_TIMEOUT,
            db::replica_lag(pool, scrape.reports.pool()),
        )
        .await;
        match lag {
            Ok(Ok(lag)) => {
                gauge!("bondhu_db_replica_up").set(1.0);
                // Not a standby (or nothing replayed yet): no lag to speak of.
                let lag = lag.unwrap_or(db::ReplicaLag {
                    bytes: 0.0,
                    seconds: 0.0,
                });
                gauge!("bondhu_db_replica_lag_seconds").set(lag.seconds);
                gauge!("bondhu_db_replica_lag_bytes").set(lag.bytes);
            }
            Ok(Err(err)) => {
                tracing::warn!(%err, "could not read the replica's lag for metrics");
                gauge!("bondhu_db_replica_up").set(0.0);
            }
            Err(_) => gauge!("bondhu_db_replica_up").set(0.0),
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        scrape.handle.render(),
    )
        .into_response()
}

/// Middleware: counts each request and times it, labelled by method, route template and
/// status. Requests no route matched share the label `unmatched`.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!(HTTP_DURATION, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status).increment(1);
    response
}

/// A wallet posting: `applied`, or `deduplicated` (its idempotency key was replayed).
pub fn wallet_posting(applied: bool) {
    let outcome = if applied { "applied" } else { "deduplicated" };
    counter!("bondhu_wallet_postings_total", "outcome" => outcome).increment(1);
}

/// A referral completed (its rewards decided and held).
pub fn referral_completed() {
    counter!("bondhu_referrals_completed_total").increment(1);
}

/// `n` referrals whose hold ended had their rewards released.
pub fn holds_released(n: u32) {
    counter!("bondhu_holds_released_total").increment(u64::from(n));
}

/// A refund reversed a referral: held rewards voided, released ones clawed back.
pub fn refund_reversal() {
    counter!("bondhu_refund_reversals_total").increment(1);
}

/// A transaction was retried after a serialization failure or a deadlock.
pub fn serialization_retry() {
    counter!("bondhu_serialization_retries_total").increment(1);
}

/// Whether the reports read the primary because the read replica lags.
pub fn replica_lagging(lagging: bool) {
    gauge!("bondhu_db_replica_lagging").set(if lagging { 1.0 } else { 0.0 });
}

/// A background job ran, successfully or not.
pub fn job_run(job: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("bondhu_job_runs_total", "job" => job, "outcome" => outcome).increment(1);
}

/// The messages one dispatcher round dealt with, by how each went.
pub fn messages_dispatched(round: &Round) {
    for (outcome, n) in [
        ("sent", round.sent),
        ("retried", round.retried),
        ("dead", round.dead),
        ("suppressed", round.suppressed),
    ] {
        if n > 0 {
            counter!("bondhu_messages_total", "outcome" => outcome).increment(u64::from(n));
        }
    }
}

/// What one round of the event relay did.
pub fn events_relayed(round: &RelayRound) {
    for (duplicate, n) in [("false", round.published), ("true", round.duplicates)] {
        if n > 0 {
            counter!("bondhu_events_published_total", "duplicate" => duplicate)
                .increment(u64::from(n));
        }
    }
    if round.failed > 0 {
        counter!("bondhu_events_publish_failures_total").increment(u64::from(round.failed));
    }
}

/// Whether this instance's event relay is connected to NATS.
pub fn event_relay_connected(connected: bool) {
    gauge!("bondhu_events_relay_connected").set(if connected { 1.0 } else { 0.0 });
}

/// The help texts of every series.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests, by method, route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency, by method and route template"
    );
    describe_gauge!(
        "bondhu_db_pool_connections",
        "This instance's pooled database connections, idle or in use"
    );
    describe_gauge!(
        "bondhu_db_pool_max_connections",
        "The pool's size limit (DATABASE_MAX_CONNECTIONS)"
    );
    describe_gauge!(
        "bondhu_db_lean_connections",
        "This instance's lean-pool connections (wallet and referral-stats reads), idle or in use"
    );
    describe_gauge!(
        "bondhu_db_lean_max_connections",
        "The lean pool's size limit (DATABASE_LEAN_MAX_CONNECTIONS)"
    );
    describe_gauge!(
        "bondhu_db_replica_up",
        "Whether the read replica (DATABASE_READ_URL) answered this scrape, 1 or 0"
    );
    describe_gauge!(
        "bondhu_db_replica_lagging",
        "Whether the reports read the primary because the read replica's replay is more than DATABASE_READ_MAX_LAG_SECS behind, 1 or 0"
    );
    describe_gauge!(
        "bondhu_db_replica_lag_seconds",
        "Seconds since the read replica last replayed a transaction, when it is behind the primary; 0 when caught up"
    );
    describe_gauge!(
        "bondhu_db_replica_lag_bytes",
        "WAL bytes the primary had written that the read replica had not replayed"
    );
    describe_gauge!(
        "bondhu_outbox_depth",
        "Messages queued in the outbox (database-wide: take max across instances)"
    );
    describe_gauge!(
        "bondhu_outbox_due",
        "Queued messages whose next attempt is due now (database-wide)"
    );
    describe_gauge!(
        "bondhu_outbox_lag_seconds",
        "How long the oldest due message has waited past its attempt time (database-wide)"
    );
    describe_gauge!(
        "bondhu_outbox_dead",
        "Dead-lettered messages awaiting an operator (database-wide)"
    );
    describe_counter!(
        "bondhu_wallet_postings_total",
        "Wallet credits and debits posted by this instance, applied or deduplicated by key"
    );
    describe_counter!(
        "bondhu_referrals_completed_total",
        "Referrals this instance completed"
    );
    describe_counter!(
        "bondhu_holds_released_total",
        "Referrals whose held rewards this instance released"
    );
    describe_counter!(
        "bondhu_refund_reversals_total",
        "Referrals reversed by refunds this instance recorded"
    );
    describe_counter!(
        "bondhu_serialization_retries_total",
        "Transactions retried after a serialization failure or deadlock"
    );
    describe_counter!(
        "bondhu_job_runs_total",
        "Background job runs, by job and outcome"
    );
    describe_counter!(
        "bondhu_messages_total",
        "Outbox messages this instance's dispatcher handled, by outcome"
    );
    describe_counter!(
        "bondhu_events_published_total",
        "Events this instance's relay published to NATS JetStream; duplicate=true: JetStream already held it (a repeat after a crash or a lost acknowledgement)"
    );
    describe_counter!(
        "bondhu_events_publish_failures_total",
        "Publications to NATS JetStream that failed and wait for a retry"
    );
    describe_gauge!(
        "bondhu_events_relay_connected",
        "Whether this instance's event relay is connected to NATS, 1 or 0"
    );
    describe_gauge!(
        "bondhu_events_relay_depth",
        "Events not yet published to NATS JetStream (database-wide: take max across instances)"
    );
    describe_gauge!(
        "bondhu_events_relay_lag_seconds",
        "How long the oldest event not yet published to NATS JetStream has waited (database-wide)"
    );
    describe_counter!(
        "bondhu_metrics_scrape_errors_total",
        "Scrapes that could not read the database's gauges"
    );
}
