//! Background jobs, run by every instance of the server beside the HTTP listener.
//!
//! Every job is safe with any number of instances running it at once: the release job
//! claims one referral at a time with `FOR UPDATE SKIP LOCKED` (two instances never
//! release the same one, and a referral being reversed is skipped until it is decided),
//! and partner commissions a batch at a time the same way,
//! and singletons such as reconciliation and the fold of the KPI counters take a PostgreSQL
//! advisory lock first. Reminder generation runs once per Asia/Dhaka date across all instances
//! (`generate_reminders_daily`: an advisory transaction lock and a table of dates done), and
//! the dispatchers of the two outboxes (messages, webhook deliveries) and the event relay
//! (to NATS JetStream) claim rows with `FOR UPDATE SKIP LOCKED` and a lease, through one
//! loop ([`run_outbox`]). No job makes an outside call inside a database transaction.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::failpoint::failpoint;
use crate::service::event_relay::{BATCH as RELAY_BATCH, EventRelay, RelayError};
use crate::service::messaging::dispatcher::{BATCH, Dispatcher};
use crate::service::outbox::RoundCounts;
use crate::service::webhooks::dispatcher::{BATCH as WEBHOOK_BATCH, WebhookDispatcher};
use crate::telemetry::metrics;
use crate::{db, service};

/// The most referrals one tick releases before it yields to the next tick (so a backlog
/// never keeps shutdown waiting).
const RELEASES_PER_TICK: u32 = 10_000;

/// Releases every referral whose hold is over, one transaction each; returns how many.
/// Stops early when `stop` turns true.
pub async fn release_due(pool: &PgPool, stop: Option<&watch::Receiver<bool>>) -> sqlx::Result<u32> {
    let mut released = 0;
    while released < RELEASES_PER_TICK && !stop.is_some_and(|s| *s.borrow()) {
        // One statement, in a transaction of its own rather than autocommitted: the claim's
        // row lock and the posted rewards then stay uncommitted together for a moment,
        // where a crash (the fail-point) must roll both back and leave the referral to
        // the next instance's job.
        let mut tx = pool.begin().await?;
        let claimed = db::holds::release_next_due(&mut *tx).await?;
        if claimed.is_some() {
            failpoint!("release.claimed");
        }
        tx.commit().await?;
        match claimed {
            Some(referral_id) => {
                failpoint!("release.after_commit");
                tracing::debug!(referral_id, "released a referral's rewards");
                released += 1;
            }
            None => break,
        }
    }
    Ok(released)
}

/// The most commissions one claim of the release job takes (one statement each claim).
const COMMISSIONS_PER_CLAIM: i32 = 500;

/// Releases every partner commission whose hold is over, `COMMISSIONS_PER_CLAIM` per
/// transaction (claimed with `FOR UPDATE SKIP LOCKED`, so instances never take the same
/// one); returns how many. Stops early when `stop` turns true.
pub async fn release_due_commissions(
    pool: &PgPool,
    stop: Option<&watch::Receiver<bool>>,
) -> sqlx::Result<u32> {
    let mut released: u32 = 0;
    while released < RELEASES_PER_TICK && !stop.is_some_and(|s| *s.borrow()) {
        let claimed = db::payouts::release_due_commissions(pool, COMMISSIONS_PER_CLAIM).await?;
        released += u32::try_from(claimed).unwrap_or(0);
        if claimed < COMMISSIONS_PER_CLAIM {
            break;
        }
    }
    Ok(released)
}

/// How often the jobs run.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// The release job's period (`JOBS_INTERVAL_SECS`).
    pub every: Duration,
    /// Reconciliation's period (`RECONCILE_INTERVAL_SECS`), across all instances.
    pub reconcile_every: Duration,
}

/// Runs the jobs on `schedule` until `stop` turns true. A failing run is logged and
/// retried at the next tick; it never stops the loop.
pub async fn run(pool: PgPool, schedule: Schedule, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(schedule.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        let released = release_due(&pool, Some(&stop)).await;
        metrics::job_run("release_holds", released.is_ok());
        match released {
            Ok(0) => {}
            Ok(released) => {
                metrics::holds_released(released);
                tracing::info!(released, "released rewards whose hold ended");
            }
            Err(err) => tracing::warn!(%err, "the release job failed; retrying at the next tick"),
        }
        let commissions = release_due_commissions(&pool, Some(&stop)).await;
        metrics::job_run("release_commissions", commissions.is_ok());
        match commissions {
            Ok(0) => {}
            Ok(released) => {
                tracing::info!(released, "released partner commissions whose hold ended")
            }
            Err(err) => {
                tracing::warn!(%err, "releasing commissions failed; retrying at the next tick")
            }
        }
        let folded = service::kpis::fold(&pool).await;
        metrics::job_run("kpi_fold", folded.is_ok());
        match folded {
            Ok(folded) => tracing::debug!(folded, "folded the KPI deltas"),
            Err(err) => {
                tracing::warn!(%err, "folding the KPI deltas failed; retrying at the next tick")
            }
        }
        let reconciled = service::reconcile::scheduled(&pool, schedule.reconcile_every).await;
        metrics::job_run("reconcile", reconciled.is_ok());
        match reconciled {
            Ok(Some(report)) => {
                tracing::info!(id = report.id, clean = report.is_clean(), "reconciled")
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(%err, "reconciliation failed; retrying at the next tick"),
        }
        let generated = service::reminders::generate_daily(&pool).await;
        metrics::job_run("reminders", generated.is_ok());
        match generated {
            Ok(Some(date)) => {
                tracing::info!(%date, "generated the day's repeat-purchase reminders")
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(%err, "reminder generation failed; retrying at the next tick")
            }
        }
    }
}

/// Sends queued messages until `stop` turns true: every `every`, and at once when `wake`
/// is notified (a verification code must not wait for the next tick).
pub async fn dispatch_messages(
    pool: PgPool,
    dispatcher: Dispatcher,
    wake: Arc<Notify>,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    run_outbox("messages", wake, every, BATCH as u32, stop, || {
        let (pool, dispatcher) = (&pool, &dispatcher);
        async move {
            let round = dispatcher.round(pool).await?;
            metrics::messages_dispatched(&round);
            if round.total() > 0 {
                tracing::debug!(?round, "dispatched messages");
            }
            Ok::<_, sqlx::Error>(round.total())
        }
    })
    .await;
}

/// Delivers queued webhooks until `stop` turns true: every `every`, and at once when
/// `wake` is notified (an operator's re-send).
pub async fn dispatch_webhooks(
    pool: PgPool,
    dispatcher: WebhookDispatcher,
    wake: Arc<Notify>,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    run_outbox("webhooks", wake, every, WEBHOOK_BATCH as u32, stop, || {
        let (pool, dispatcher) = (&pool, &dispatcher);
        async move {
            let round = dispatcher.round(pool).await?;
            if round.total() > 0 {
                tracing::debug!(?round, "dispatched webhooks");
            }
            Ok::<_, sqlx::Error>(round.total())
        }
    })
    .await;
}

/// Publishes the event outbox to NATS JetStream until `stop` turns true: every `every`
/// (`EVENTS_NATS_POLL_MILLIS`). Events are written by triggers, in other processes too, so
/// nothing in this one could wake it sooner.
pub async fn relay_events(
    pool: PgPool,
    relay: EventRelay,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    let wake = Arc::new(Notify::new());
    run_outbox("events", wake, every, RELAY_BATCH as u32, stop, || {
        let (pool, relay) = (&pool, &relay);
        async move {
            let round = relay.round(pool).await?;
            if round.total() > 0 {
                tracing::debug!(?round, "relayed events");
            }
            // A failing stream ends the burst: the rest waits for the next tick.
            Ok::<_, RelayError>(if round.failed > 0 { 0 } else { round.total() })
        }
    })
    .await;
}

/// How often [`watch_replica_lag`] measures the replica's lag.
pub const REPLICA_LAG_CHECK: Duration = Duration::from_secs(1);

/// Measures the read replica's replay lag every [`REPLICA_LAG_CHECK`] until `stop` turns
/// true, and marks it lagging while it is more than `max_lag` behind: the reports then read
/// the primary ([`db::ReportsDb::begin`]), and `/readyz` says `"reports": "lagging"`. A
/// replica that does not answer keeps its mark (the reports answer 503 while it is down,
/// as without a threshold). Each instance watches for itself: nothing is shared.
pub async fn watch_replica_lag(
    primary: PgPool,
    reports: db::ReportsDb,
    max_lag: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(REPLICA_LAG_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max = max_lag.as_secs_f64();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        let measured = tokio::time::timeout(
            db::REPLICA_PROBE_TIMEOUT,
            db::replica_lag(&primary, reports.pool()),
        )
        .await;
        let seconds = match measured {
            // Not (or no longer) a standby, or nothing to replay: not behind.
            Ok(Ok(lag)) => lag.map_or(0.0, |lag| lag.seconds),
            Ok(Err(_)) | Err(_) => continue,
        };
        let lagging = seconds > max;
        if lagging != reports.is_lagging() {
            if lagging {
                tracing::warn!(
                    lag_seconds = seconds,
                    max_lag_seconds = max,
                    "the read replica lags: reports read the primary until it catches up"
                );
            } else {
                tracing::info!(
                    lag_seconds = seconds,
                    "the read replica caught up: reports read it again"
                );
            }
            reports.set_lagging(lagging);
        }
        metrics::replica_lagging(lagging);
    }
}

/// The loop of an outbox's dispatcher (see [`crate::service::outbox`]), the same for every
/// outbox: on each tick of `every`, or when `wake` is notified, runs `round` until a round
/// deals with fewer than `batch` rows (nothing more is due now) or `stop` turns true. Each
/// round claims with `FOR UPDATE SKIP LOCKED`, so every instance runs this loop; a failing
/// round is logged and retried at the next tick.
pub async fn run_outbox<F, Fut, E>(
    what: &'static str,
    wake: Arc<Notify>,
    every: Duration,
    batch: u32,
    mut stop: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u32, E>>,
    E: std::fmt::Display,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = wake.notified() => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
        while !*stop.borrow() {
            let result = round().await;
            metrics::job_run(what, result.is_ok());
            match result {
                // A short round means nothing more is due now.
                Ok(done) if done < batch => break,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(%err, outbox = what, "dispatching failed; retrying at the next tick");
                    break;
                }
            }
        }
    }
}
